namespace MoeSpeq.Inference.Tokenization;

/// <summary>A stretch of the input: either a special token's id or raw text to tokenize (offset and length in the input).</summary>
readonly record struct TextFragment(int Token, int Offset, int Length)
{
    public bool IsToken => Token >= 0;
    public static TextFragment Text(int offset, int length) => new(-1, offset, length);
}

/// <summary>
/// llama.cpp's <c>tokenizer_st_partition</c>: before any model runs, every occurrence of a special token's text is
/// cut out of the raw text and replaced by its id, longest special tokens first. Control and unknown tokens take
/// part only when parsing specials; user-defined tokens always do (as Hugging Face's added tokens do).
/// Tokens marked <see cref="TokenAttributes.LStrip"/> / <see cref="TokenAttributes.RStrip"/> swallow the ASCII
/// whitespace beside them.
/// </summary>
static class SpecialTokenPartition
{
    public static List<TextFragment> Split(Vocabulary vocab, ReadOnlySpan<char> text, bool parseSpecial)
    {
        var fragments = new List<TextFragment>();
        if (text.IsEmpty) return fragments;
        fragments.Add(TextFragment.Text(0, text.Length));

        var next = new List<TextFragment>();
        foreach (int id in vocab.SpecialTokensByLength)
        {
            var attr = vocab.Attributes[id];
            if (!parseSpecial && (attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0) continue;
            string special = vocab.Tokens[id];

            next.Clear();
            bool changed = false;
            foreach (var fragment in fragments)
            {
                if (fragment.IsToken) { next.Add(fragment); continue; }
                int offset = fragment.Offset, length = fragment.Length;
                while (length > 0)
                {
                    int match = text.Slice(offset, length).IndexOf(special, StringComparison.Ordinal);
                    if (match < 0) break;
                    changed = true;

                    int leftLength = match;
                    if ((attr & TokenAttributes.LStrip) != 0)
                        while (leftLength > 0 && IsCSpace(text[offset + leftLength - 1])) leftLength--;
                    if (leftLength > 0) next.Add(TextFragment.Text(offset, leftLength));

                    next.Add(new TextFragment(id, 0, 0));

                    int rightOffset = offset + match + special.Length;
                    int rightLength = offset + length - rightOffset;
                    if ((attr & TokenAttributes.RStrip) != 0)
                        while (rightLength > 0 && IsCSpace(text[rightOffset])) { rightOffset++; rightLength--; }
                    offset = rightOffset;
                    length = rightLength;
                }
                if (length > 0) next.Add(TextFragment.Text(offset, length));
            }
            if (changed) (fragments, next) = (next, fragments);
        }
        return fragments;
    }

    /// <summary>C's <c>isspace</c> in the "C" locale, which llama.cpp uses for the strip attributes.</summary>
    static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// Llama 3's pre-tokenizer regex
/// <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>
/// hand-written as llama.cpp's <c>unicode_regex_split_custom_llama3</c> is (which llama.cpp uses for exactly this
/// pattern; look-alikes such as Qwen2's go through its regex engine, here <see cref="RegexWordSplitter"/>).
/// </summary>
sealed class Llama3WordSplitter : WordSplitter
{
    public override void Split(SplitText text, List<int> segments, List<int> result)
    {
        var cpts = text.Codepoints;
        int start = 0;
        foreach (int segment in segments)
        {
            var s = new Scanner(cpts, start, start + segment, result);
            start += segment;
            int end = s.End;

            for (int pos = s.Begin; pos < end;)
            {
                int cpt = s.Cpt(pos);
                var flags = s.Flags(pos);

                // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                if (cpt == '\'' && pos + 1 < end)
                {
                    int next = ToLowerAscii(s.Cpt(pos + 1));
                    if (next is 's' or 't' or 'm' or 'd') { pos += s.AddToken(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int next2 = ToLowerAscii(s.Cpt(pos + 2));
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        {
                            pos += s.AddToken(pos + 3);
                            continue;
                        }
                    }
                }

                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cpt == '\r' || cpt == '\n' || (flags & CodepointFlags.Number) != 0))
                {
                    if ((flags & CodepointFlags.Letter) != 0 || (s.Flags(pos + 1) & CodepointFlags.Letter) != 0)
                    {
                        pos++;
                        while ((s.Flags(pos) & CodepointFlags.Letter) != 0) pos++;
                        s.AddToken(pos);
                        continue;
                    }
                }

                // \p{N}{1,3}
                if ((flags & CodepointFlags.Number) != 0)
                {
                    int ini = pos;
                    while ((s.Flags(pos) & CodepointFlags.Number) != 0)
                    {
                        if (++pos - ini >= 3)
                        {
                            s.AddToken(pos);
                            ini = pos;
                        }
                    }
                    s.AddToken(pos);
                    continue;
                }

                // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
                var flags2 = cpt == ' ' ? s.Flags(pos + 1) : flags;
                if (Scanner.IsOther(flags2) && flags != CodepointFlags.None)
                {
                    if (cpt == ' ') pos++;
                    while (Scanner.IsOther(flags2)) flags2 = s.Flags(++pos);
                    int c2 = s.Cpt(pos);
                    while (c2 == '\r' || c2 == '\n') c2 = s.Cpt(++pos);
                    s.AddToken(pos);
                    continue;
                }

                int spaces = 0, lastEndOfLine = 0;
                while ((s.Flags(pos + spaces) & CodepointFlags.Whitespace) != 0)
                {
                    int c2 = s.Cpt(pos + spaces);
                    if (c2 == '\r' || c2 == '\n') lastEndOfLine = pos + spaces + 1;
                    spaces++;
                }

                // \s*[\r\n]+
                if (lastEndOfLine > 0)
                {
                    pos = lastEndOfLine;
                    s.AddToken(pos);
                    continue;
                }
                // \s+(?!\S)
                if (spaces > 1 && s.Cpt(pos + spaces) != Scanner.OutOfRange)
                {
                    pos += spaces - 1;
                    s.AddToken(pos);
                    continue;
                }
                // \s+
                if (spaces > 0)
                {
                    pos += spaces;
                    s.AddToken(pos);
                    continue;
                }

                s.AddToken(++pos);
            }
        }
    }

    /// <summary>
    /// llama.cpp lowercases with its full Unicode table, but only the ASCII results 's', 't', … are compared, and
    /// no non-ASCII letter lowercases to ASCII except U+0130 (İ → 'i', never a contraction letter) and U+212A
    /// (Kelvin sign → 'k', likewise): ASCII lowering decides identically.
    /// </summary>
    static int ToLowerAscii(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;
}

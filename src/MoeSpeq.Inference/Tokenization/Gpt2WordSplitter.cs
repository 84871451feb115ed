namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// GPT-2's pre-tokenizer regex <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>,
/// hand-written as llama.cpp does (<c>unicode_regex_split_custom_gpt2</c>): a regex engine cannot be trusted to
/// reproduce the reference's backtracking on <c>\s+(?!\S)</c> identically, and the loop is much faster.
/// </summary>
sealed class Gpt2WordSplitter : WordSplitter
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

                // 's|'t|'re|'ve|'m|'ll|'d
                if (cpt == '\'' && pos + 1 < end)
                {
                    int next = s.Cpt(pos + 1);
                    if (next is 's' or 't' or 'm' or 'd') { pos += s.AddToken(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int next2 = s.Cpt(pos + 2);
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        {
                            pos += s.AddToken(pos + 3);
                            continue;
                        }
                    }
                }

                var flags2 = cpt == ' ' ? s.Flags(pos + 1) : flags;
                // ' ?\p{L}+'
                if ((flags2 & CodepointFlags.Letter) != 0)
                {
                    if (cpt == ' ') pos++;
                    while ((flags2 & CodepointFlags.Letter) != 0) flags2 = s.Flags(++pos);
                    s.AddToken(pos);
                    continue;
                }
                // ' ?\p{N}+'
                if ((flags2 & CodepointFlags.Number) != 0)
                {
                    if (cpt == ' ') pos++;
                    while ((flags2 & CodepointFlags.Number) != 0) flags2 = s.Flags(++pos);
                    s.AddToken(pos);
                    continue;
                }
                // ' ?[^\s\p{L}\p{N}]+'
                if (Scanner.IsOther(flags2))
                {
                    if (cpt == ' ') pos++;
                    while (Scanner.IsOther(flags2)) flags2 = s.Flags(++pos);
                    s.AddToken(pos);
                    continue;
                }

                int spaces = 0;
                while ((s.Flags(pos + spaces) & CodepointFlags.Whitespace) != 0) spaces++;

                // '\s+(?!\S)': a run of spaces before a non-space leaves its last space to that word
                if (spaces > 1 && s.Cpt(pos + spaces) != Scanner.OutOfRange)
                {
                    pos += spaces - 1;
                    s.AddToken(pos);
                    continue;
                }
                // '\s+'
                if (spaces > 0)
                {
                    pos += spaces;
                    s.AddToken(pos);
                    continue;
                }

                s.AddToken(++pos); // no match: one code point alone
            }
        }
    }
}

/// <summary>Cursor over one segment for the hand-written splitters (llama.cpp's <c>_get_cpt</c>, <c>_get_flags</c>, <c>_add_token</c>).</summary>
ref struct Scanner(int[] cpts, int begin, int end, List<int> result)
{
    public const int OutOfRange = -1;
    public readonly int Begin = begin, End = end;
    int _prevEnd = begin;

    public readonly int Cpt(int pos) => pos >= Begin && pos < End ? cpts[pos] : OutOfRange;

    public readonly CodepointFlags Flags(int pos) => pos >= Begin && pos < End ? CodepointInfo.Flags(cpts[pos]) : CodepointFlags.None;

    /// <summary>Ends the current word at <paramref name="end"/>; returns its length (0 adds nothing).</summary>
    public int AddToken(int end)
    {
        int len = end - _prevEnd;
        if (len > 0) result.Add(len);
        _prevEnd = end;
        return len;
    }

    /// <summary><c>[^\s\p{L}\p{N}]</c> inside the segment.</summary>
    public static bool IsOther(CodepointFlags f) =>
        (f & (CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number)) == 0 && f != CodepointFlags.None;
}

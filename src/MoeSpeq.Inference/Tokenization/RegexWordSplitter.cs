using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// One pre-tokenizer regex run the way llama.cpp's <c>unicode_regex_split</c> runs it with <c>std::regex</c>.
/// A pattern using Unicode categories (<c>\p{L}</c>, <c>\p{N}</c>, …) is matched against the
/// <see cref="SplitText.Collapsed"/> text, with each category rewritten to its stand-in character plus the ASCII
/// members — llama.cpp's trick, which also fixes its quirks (all of <c>\p{Lu}</c>…<c>\p{Lo}</c> mean any letter;
/// <c>\s</c> sees ASCII whitespace and stand-ins only). Other patterns run on <see cref="SplitText.Wide"/>.
/// </summary>
/// <remarks>
/// Both engines are backtracking, leftmost-first ECMAScript-style matchers, so the same pattern splits the same.
/// The patterns are built at run time (the collapsed rewrite), hence compiled rather than source-generated regexes;
/// the timeout guards against a pathological input, never expected with these patterns.
/// Each segment is matched as a whole input (<c>Regex.Match(input, beginning, length)</c>), as llama.cpp iterates
/// each segment separately: anchors and look-arounds stop at segment edges.
/// </remarks>
sealed class RegexWordSplitter : WordSplitter
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    // llama.cpp's k_ucat_enum: the category escapes it recognises (longest first so \p{Lu} is not read as \p{L}).
    static readonly (string Escape, char StandIn, string Ascii)[] Categories =
    [
        (@"\p{Lu}", SplitText.CollapsedLetter, "A-Za-z"),
        (@"\p{Ll}", SplitText.CollapsedLetter, "A-Za-z"),
        (@"\p{Lt}", SplitText.CollapsedLetter, "A-Za-z"),
        (@"\p{Lm}", SplitText.CollapsedLetter, "A-Za-z"),
        (@"\p{Lo}", SplitText.CollapsedLetter, "A-Za-z"),
        (@"\p{N}", SplitText.CollapsedNumber, "0-9"),
        (@"\p{L}", SplitText.CollapsedLetter, "A-Za-z"),
        (@"\p{P}", SplitText.CollapsedPunctuation, @"!-#%-*,-/:-;?-@\[-\]_\{\}"),
        (@"\p{M}", SplitText.CollapsedAccentMark, ""),
        (@"\p{S}", SplitText.CollapsedSymbol, @"\$\+<->\^`\|"),
    ];

    readonly Regex _regex;
    readonly bool _collapsed;

    public RegexWordSplitter(string pattern)
    {
        _collapsed = Categories.Any(c => pattern.Contains(c.Escape, StringComparison.Ordinal));
        string dotnetPattern = _collapsed ? CollapsePattern(pattern) : ExpandSupplementaryClasses(pattern);
        _regex = new Regex(dotnetPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant, Timeout);
    }

    public override void Split(SplitText text, List<int> segments, List<int> result)
    {
        string input = _collapsed ? text.Collapsed : text.Wide;
        int[]? index = _collapsed ? null : text.WideIndex;
        int start = 0; // in code points
        foreach (int segment in segments)
        {
            int done = start; // end of the last emitted piece, in code points
            int u16Start = index?[start] ?? start;
            int u16Length = (index?[start + segment] ?? start + segment) - u16Start;
            for (var m = _regex.Match(input, u16Start, u16Length); m.Success; m = m.NextMatch())
            {
                if (m.Length == 0) continue;
                int mStart = index is null ? m.Index : Array.BinarySearch(index, m.Index);
                int mEnd = index is null ? m.Index + m.Length : Array.BinarySearch(index, m.Index + m.Length);
                if (mStart > done) result.Add(mStart - done);
                result.Add(mEnd - mStart);
                done = mEnd;
            }
            if (done < start + segment) result.Add(start + segment - done);
            start += segment;
        }
    }

    /// <summary>llama.cpp's rewrite of a category pattern for the collapsed text (it rejects non-ASCII patterns too).</summary>
    static string CollapsePattern(string pattern)
    {
        if (pattern.Any(c => c >= 128))
            throw new NotSupportedException($"pre-tokenizer regex mixes Unicode categories and non-ASCII characters: {pattern}");
        var sb = new StringBuilder();
        bool inside = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '[' && (i == 0 || pattern[i - 1] != '\\')) { sb.Append('['); inside = true; continue; }
            if (inside && c == ']' && pattern[i - 1] != '\\') { sb.Append(']'); inside = false; continue; }
            var category = Categories.FirstOrDefault(k => string.CompareOrdinal(pattern, i, k.Escape, 0, k.Escape.Length) == 0);
            if (category.Escape is not null)
            {
                if (!inside) sb.Append('[');
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)category.StandIn:X4}").Append(category.Ascii);
                if (!inside) sb.Append(']');
                i += category.Escape.Length - 1;
                continue;
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// .NET regexes see UTF-16 units, <c>std::wregex</c> whole code points: a character class holding code points
    /// above U+FFFF (deepseek-llm's letter list) is rewritten as an alternation of its BMP part and surrogate-pair ranges.
    /// </summary>
    static string ExpandSupplementaryClasses(string pattern)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] != '[' || (i > 0 && pattern[i - 1] == '\\')) { sb.Append(pattern[i]); continue; }
            int close = i + 1;
            while (close < pattern.Length && !(pattern[close] == ']' && pattern[close - 1] != '\\' && close > i + 1)) close++;
            string body = pattern[(i + 1)..close];
            sb.Append(RewriteClass(body));
            i = close;
        }
        return sb.ToString();
    }

    static string RewriteClass(string body)
    {
        var bmp = new StringBuilder();
        var supplementary = new List<(int Lo, int Hi)>();
        for (int i = 0; i < body.Length;)
        {
            if (body[i] == '\\') { bmp.Append(body, i, Math.Min(2, body.Length - i)); i += 2; continue; }
            int lo = char.ConvertToUtf32(body, i);
            i += char.IsSurrogatePair(body, i) ? 2 : 1;
            int hi = lo;
            if (i + 1 < body.Length && body[i] == '-')
            {
                hi = char.ConvertToUtf32(body, i + 1);
                i += 1 + (char.IsSurrogatePair(body, i + 1) ? 2 : 1);
            }
            if (lo >= 0x10000) supplementary.Add((lo, hi));
            else if (hi >= 0x10000) { AppendRange(bmp, lo, 0xFFFF); supplementary.Add((0x10000, hi)); }
            else AppendRange(bmp, lo, hi);
        }
        if (supplementary.Count == 0) return "[" + body + "]";
        if (body.StartsWith('^')) throw new NotSupportedException("negated character class with code points above U+FFFF");

        var sb = new StringBuilder("(?:[").Append(bmp).Append(']');
        foreach (var (lo, hi) in supplementary)
        {
            for (int high = HighSurrogate(lo); high <= HighSurrogate(hi); high++)
            {
                int first = high == HighSurrogate(lo) ? LowSurrogate(lo) : 0xDC00;
                int last = high == HighSurrogate(hi) ? LowSurrogate(hi) : 0xDFFF;
                sb.Append(CultureInfo.InvariantCulture, $"|\\u{high:X4}[\\u{first:X4}-\\u{last:X4}]");
            }
        }
        return sb.Append(')').ToString();
    }

    static void AppendRange(StringBuilder sb, int lo, int hi)
    {
        sb.Append(CultureInfo.InvariantCulture, $"\\u{lo:X4}");
        if (hi != lo) sb.Append(CultureInfo.InvariantCulture, $"-\\u{hi:X4}");
    }

    static int HighSurrogate(int cpt) => 0xD800 + ((cpt - 0x10000) >> 10);
    static int LowSurrogate(int cpt) => 0xDC00 + ((cpt - 0x10000) & 0x3FF);
}

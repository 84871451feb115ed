using System.Text;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// The text a pre-tokenizer splits, as code points, with the two derived strings llama.cpp runs its regexes on
/// (built on first use): <see cref="Collapsed"/>, one char per code point with every non-ASCII code point replaced
/// by a stand-in for its category, and <see cref="Wide"/>, the text with non-ASCII whitespace made '\v'.
/// </summary>
sealed class SplitText(int[] codepoints)
{
    public int[] Codepoints { get; } = codepoints;

    // Stand-ins for non-ASCII code points in the collapsed text (llama.cpp's k_ucat_cpt and fallbacks).
    public const char CollapsedNumber = '\u00D1', CollapsedLetter = '\u00D2', CollapsedPunctuation = '\u00D3',
        CollapsedAccentMark = '\u00D4', CollapsedSymbol = '\u00D5', CollapsedOther = '\u00D0', CollapsedWhitespace = '\v';

    string? _collapsed, _wide;
    int[]? _wideIndex;

    public string Collapsed => _collapsed ??= BuildCollapsed();

    /// <summary>UTF-16 text whose code point <c>i</c> starts at <see cref="WideIndex"/>[i] (length n + 1).</summary>
    public string Wide => _wide ??= BuildWide(out _wideIndex);

    public int[] WideIndex
    {
        get { _ = Wide; return _wideIndex!; }
    }

    string BuildCollapsed()
    {
        return string.Create(Codepoints.Length, Codepoints, static (dst, cpts) =>
        {
            for (int i = 0; i < cpts.Length; i++)
            {
                int c = cpts[i];
                if (c < 128) { dst[i] = (char)c; continue; }
                var f = CodepointInfo.Flags(c);
                dst[i] = (f & CodepointFlags.Whitespace) != 0 ? CollapsedWhitespace
                    : (f & CodepointFlags.CategoryMask) switch
                    {
                        CodepointFlags.Number => CollapsedNumber,
                        CodepointFlags.Letter => CollapsedLetter,
                        CodepointFlags.Punctuation => CollapsedPunctuation,
                        CodepointFlags.AccentMark => CollapsedAccentMark,
                        CodepointFlags.Symbol => CollapsedSymbol,
                        _ => CollapsedOther,
                    };
            }
        });
    }

    string BuildWide(out int[] index)
    {
        var sb = new StringBuilder(Codepoints.Length + 8);
        index = new int[Codepoints.Length + 1];
        for (int i = 0; i < Codepoints.Length; i++)
        {
            index[i] = sb.Length;
            int c = Codepoints[i];
            if (c > 0x7F && CodepointInfo.IsWhitespace(c)) sb.Append('\v'); // std::wregex's \s knows ASCII only
            else if (c < 0x10000) sb.Append((char)c);
            else sb.Append(char.ConvertFromUtf32(c));
        }
        index[Codepoints.Length] = sb.Length;
        return sb.ToString();
    }
}

/// <summary>
/// One step of a BPE pre-tokenizer: re-splits every current segment (lengths in code points, in order) into
/// finer ones. llama.cpp applies a pre-type's regexes one after another this way (<c>unicode_regex_split</c>):
/// each match becomes a segment and so does each unmatched stretch between matches.
/// </summary>
abstract class WordSplitter
{
    public abstract void Split(SplitText text, List<int> segments, List<int> result);
}

using System.Globalization;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// llama.cpp's <c>unicode_cpt_flags</c>: one general-category class per code point plus a White_Space bit. The
/// pre-tokenizers ask only these questions (letter? number? whitespace?), so mirroring llama.cpp's grouping — not
/// .NET's own regex classes — is what keeps the word splits identical. Categories come from .NET's Unicode
/// tables; llama.cpp ships its own copy, so code points assigned in one Unicode version and not the other may differ.
/// </summary>
[Flags]
enum CodepointFlags : ushort
{
    /// <summary>Beyond the segment being split (llama.cpp's all-zero flags); every real code point has a class bit.</summary>
    None = 0,
    Undefined = 1 << 0,
    Number = 1 << 1,
    Letter = 1 << 2,
    Separator = 1 << 3,
    AccentMark = 1 << 4,
    Punctuation = 1 << 5,
    Symbol = 1 << 6,
    Control = 1 << 7,
    Whitespace = 1 << 8,
    CategoryMask = Undefined | Number | Letter | Separator | AccentMark | Punctuation | Symbol | Control,
}

static class CodepointInfo
{
    /// <summary>The class bits of every BMP code point, computed once (64K entries); the rest are computed on demand.</summary>
    static readonly CodepointFlags[] Bmp = BuildBmp();

    public static CodepointFlags Flags(int cpt) => cpt < Bmp.Length ? Bmp[cpt] : Compute(cpt);

    public static bool IsWhitespace(int cpt) => (Flags(cpt) & CodepointFlags.Whitespace) != 0;

    /// <summary>The Unicode White_Space property (PropList.txt), the set llama.cpp's tables mark as whitespace.</summary>
    static bool IsWhiteSpaceProperty(int c) =>
        c is >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    static CodepointFlags[] BuildBmp()
    {
        var flags = new CodepointFlags[0x10000];
        for (int c = 0; c < flags.Length; c++) flags[c] = Compute(c);
        return flags;
    }

    static CodepointFlags Compute(int cpt)
    {
        if (cpt > 0x10FFFF) return CodepointFlags.Undefined;
        var f = CharUnicodeInfo.GetUnicodeCategory(cpt) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                => CodepointFlags.AccentMark,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                => CodepointFlags.Number,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                => CodepointFlags.Separator,
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                => CodepointFlags.Control,
            _ => CodepointFlags.Undefined,
        };
        return IsWhiteSpaceProperty(cpt) ? f | CodepointFlags.Whitespace : f;
    }

    /// <summary>
    /// The code points of <paramref name="text"/>, as llama.cpp decodes UTF-8: an unpaired surrogate (which UTF-8
    /// cannot carry) becomes U+FFFD, as the replacement llama.cpp substitutes for invalid bytes.
    /// </summary>
    public static int[] FromString(ReadOnlySpan<char> text)
    {
        var result = new int[text.Length];
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                result[n++] = char.ConvertToUtf32(c, text[++i]);
            else
                result[n++] = char.IsSurrogate(c) ? 0xFFFD : c;
        }
        return result.AsSpan(0, n).ToArray();
    }
}

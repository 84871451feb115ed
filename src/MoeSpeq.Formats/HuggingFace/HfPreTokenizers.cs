namespace MoeSpeq.Formats.HuggingFace;

/// <summary>
/// Byte-level BPE pre-tokenizers by their <c>tokenizer.json</c> shape → llama.cpp's <c>tokenizer.ggml.pre</c> name.
/// llama.cpp's converter tells them apart by hashing a tokenization made with the transformers library; without it,
/// the regexes of the <c>Split</c> steps before <c>ByteLevel</c> identify the pre-tokenizer just as well. Each name
/// lists the pattern sequences that mean it, the first being what a writer emits; a sequence not listed is an error
/// rather than a guess, since a wrong split changes token ids silently.
/// </summary>
public static class HfPreTokenizers
{
    /// <summary>A bare <c>ByteLevel</c> pre-tokenizer with its own (GPT-2) regex.</summary>
    public const string ByteLevelOnly = "gpt-2";

    const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    // llama.cpp spells the case-insensitive contractions out, as its regex engine lacks (?i:…); either spelling means the same.
    const string Qwen2Spelled = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string Cjk = "[一-龥ࠀ-一가-퟿]+";
    /// <summary>
    /// DeepSeek-LLM's (and DeepSeek-V2's) letter class: the cased letters spelled as ranges. Shared with the engine's
    /// pre-tokenizer, which applies the same split; \u escapes keep the compatibility letters (U+1F7D, U+1FBE, U+2126,
    /// U+212A, …) that editors normalise away.
    /// </summary>
    public const string DeepseekLlmLetters = "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

    static readonly (string Name, string[][] Patterns)[] Table =
    [
        ("llama-bpe", [[Llama3]]),
        ("qwen2", [[Qwen2], [Qwen2Spelled]]),
        ("deepseek-coder", [["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", Cjk, @"\p{N}"]]),
        ("deepseek-llm", [["[\r\n]", DeepseekLlmLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", Cjk, @"\p{N}+"]]),
    ];

    /// <summary>The llama.cpp name of the Split pattern sequence <paramref name="patterns"/>, or null.</summary>
    public static string? Identify(IReadOnlyList<string> patterns)
    {
        if (patterns.Count == 0) return ByteLevelOnly;
        foreach (var (name, sequences) in Table)
            if (sequences.Any(s => s.SequenceEqual(patterns, StringComparer.Ordinal))) return name;
        return null;
    }

    /// <summary>The Split patterns to write for <paramref name="name"/> (empty for a bare ByteLevel), or null when the table lacks it.</summary>
    public static string[]? Patterns(string name) =>
        name is ByteLevelOnly or "gpt2" ? [] : Table.FirstOrDefault(t => t.Name == name).Patterns?[0];

    public static IEnumerable<string> Names => Table.Select(t => t.Name).Prepend(ByteLevelOnly);
}

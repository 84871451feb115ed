using MoeSpeq.Formats.HuggingFace;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// A byte-level BPE pre-tokenizer: how <c>tokenizer.ggml.pre</c> cuts text into words before merging, plus the
/// vocab flags llama.cpp ties to the same name (<c>llama_vocab::impl::load</c>, <c>llm_tokenizer_bpe</c>).
/// </summary>
sealed class PreTokenizer
{
    public required string Name { get; init; }
    /// <summary>The regexes of the pre-type, applied in order (each re-splits the previous step's words).</summary>
    public required WordSplitter[] Steps { get; init; }
    /// <summary>A whole word that is itself a token is emitted without merging (Llama 3).</summary>
    public bool IgnoreMerges { get; init; }
    /// <summary>The add_bos default when <c>tokenizer.ggml.add_bos_token</c> is absent.</summary>
    public bool AddBosDefault { get; init; }

    /// <summary>Cuts <paramref name="cpts"/> into word lengths (in code points).</summary>
    public List<int> Split(int[] cpts)
    {
        var text = new SplitText(cpts);
        var segments = new List<int>(1) { cpts.Length };
        var next = new List<int>();
        foreach (var step in Steps)
        {
            next.Clear();
            step.Split(text, segments, next);
            (segments, next) = (next, segments);
        }
        return segments;
    }

    // The regex lists of llama.cpp's llm_tokenizer_bpe, by pre-type.
    const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    const string Qwen2Regex = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string PoroRegex = " ?[^(\\s|.,!?…。，、।۔،)]+";
    const string CjkRegex = "[一-龥ࠀ-一가-퟿]+";

    static readonly Dictionary<string, Func<PreTokenizer>> Known = BuildTable();

    /// <summary>The names this build accepts (aliases included), for error messages.</summary>
    public static IEnumerable<string> KnownNames => Known.Keys.Order(StringComparer.Ordinal);

    /// <summary>The pre-tokenizer named <paramref name="name"/>, or null when this build does not implement it.</summary>
    public static PreTokenizer? Create(string name) => Known.TryGetValue(name, out var make) ? make() : null;

    static Dictionary<string, Func<PreTokenizer>> BuildTable()
    {
        var t = new Dictionary<string, Func<PreTokenizer>>(StringComparer.Ordinal);
        void Add(string[] names, Func<string, PreTokenizer> make)
        {
            foreach (var n in names) t[n] = () => make(n);
        }
        static WordSplitter[] Regexes(params string[] patterns) =>
            patterns.Select(p => p == Gpt2Regex ? new Gpt2WordSplitter() : (WordSplitter)new RegexWordSplitter(p)).ToArray();

        // Aliases are llama.cpp's own: each list is one `else if` branch of llama_vocab::impl::load.
        Add(["default"], n => new() { Name = n, Steps = Regexes(@"[\p{P}\$\+<=>\^~\|]+", Gpt2Regex, @"\p{N}+", "[0-9][0-9][0-9]") });
        Add(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
             "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4"],
            n => new() { Name = n, Steps = Regexes(Gpt2Regex) });
        Add(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
            n => new() { Name = n, Steps = [new Llama3WordSplitter()], IgnoreMerges = true, AddBosDefault = true });
        Add(["dbrx", "smaug-bpe"], n => new() { Name = n, Steps = [new Llama3WordSplitter()] });
        Add(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open", "megrez"],
            n => new() { Name = n, Steps = Regexes(Qwen2Regex) });
        Add(["deepseek-llm"], n => new()
        {
            Name = n,
            Steps = Regexes("[\r\n]", HfPreTokenizers.DeepseekLlmLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", CjkRegex, @"\p{N}+"),
        });
        Add(["deepseek-coder"], n => new() { Name = n, Steps = Regexes("[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", CjkRegex, @"\p{N}") });
        Add(["falcon"], n => new()
        {
            Name = n,
            Steps = Regexes(@"[\p{P}\$\+<=>\^~\|`]+", Gpt2Regex, "[0-9][0-9][0-9]"),
        });
        Add(["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"],
            n => new() { Name = n, Steps = Regexes(@"\p{N}", Gpt2Regex) });
        Add(["poro-chat", "bloom", "gpt3-finnish"], n => new() { Name = n, Steps = Regexes(PoroRegex) });
        Add(["viking"], n => new() { Name = n, Steps = Regexes(PoroRegex, @"\p{N}") });
        return t;
    }
}

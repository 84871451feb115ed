using System.Text.Json;
using System.Text.RegularExpressions;
using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Formats.HuggingFace;

/// <summary>
/// A model directory's <c>tokenizer.json</c> (with <c>tokenizer_config.json</c> and config.json for special tokens)
/// turned into the <c>tokenizer.ggml.*</c> metadata a converter to GGUF writes, so the engine's one tokenizer
/// implementation (llama.cpp's algorithms, built from GGUF metadata) serves both formats and tokenizes a directory
/// exactly as it tokenizes the converted file.
/// </summary>
/// <remarks>
/// Two kinds of <c>tokenizer.json</c> are understood, the two the supported models ship:
/// <list type="bullet">
/// <item>BPE with <c>byte_fallback</c> and ▁ for spaces (Llama, Mistral, Mixtral): llama.cpp's SentencePiece
/// tokenizer (<c>llama</c>). SentencePiece merges the adjacent pair whose concatenation scores highest; the merge
/// list orders the same merges, so a token's score is minus the rank of the first merge that makes it.</item>
/// <item>byte-level BPE (Qwen, DeepSeek, Llama 3): llama.cpp's <c>gpt2</c> tokenizer with the merges as they are and the
/// pre-tokenizer named by <see cref="HfPreTokenizers"/>.</item>
/// </list>
/// Anything else (Unigram, WordPiece, normalizers or splits the engine does not implement) is an
/// <see cref="HfFormatException"/>, never an approximation. Microsoft.ML.Tokenizers is not used: the engine's
/// tokenizers reproduce llama.cpp's special-token and space-prefix rules, which a second implementation would not.
/// </remarks>
public static partial class HfTokenizer
{
    public const string FileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";
    /// <summary>Far above any real vocabulary (a few hundred thousand): an id beyond is a corrupt file.</summary>
    const int MaxVocab = 1 << 24;

    const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>The GGUF tokenizer metadata for the tokenizer files in <paramref name="directory"/>; <paramref name="config"/> is its config.json.</summary>
    public static IReadOnlyList<(string Key, GgufValue Value)> ToGguf(string directory, HfJsonFile? config)
    {
        var json = HfJsonFile.Load(Path.Combine(directory, FileName));
        var tokenizerConfig = File.Exists(Path.Combine(directory, ConfigFileName)) ? HfJsonFile.Load(Path.Combine(directory, ConfigFileName)) : null;
        return ToGguf(json, tokenizerConfig, config);
    }

    public static IReadOnlyList<(string Key, GgufValue Value)> ToGguf(HfJsonFile json, HfJsonFile? tokenizerConfig, HfJsonFile? config)
    {
        var model = json.Object("model") ?? throw json.Missing("model");
        string type = model.String("type") ?? throw model.Missing("type");
        if (type != "BPE") throw model.Invalid("type", $"\"{type}\" tokenizers are not supported (BPE with byte fallback, and byte-level BPE, are)");
        bool spm = model.Bool("byte_fallback") ?? false;

        // The embedding may have more rows than the tokenizer has tokens (Qwen pads to a multiple of 128): the
        // converter pads the vocabulary to config.json's vocab_size, so the two agree.
        long padTo = config?.Int("vocab_size") is long v and > 0 and < MaxVocab ? v : 0;
        var (tokens, types) = ReadVocabulary(json, model, (int)padTo);
        var ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) ids.TryAdd(tokens[i], i);
        var merges = ReadMerges(model);

        var metadata = new List<(string Key, GgufValue Value)>();
        void Set(string key, GgufValue value) => metadata.Add((key, value));
        Set("tokenizer.ggml.model", Str(spm ? "llama" : "gpt2"));
        if (spm)
        {
            CheckSentencePieceShape(json);
            string? unk = model.String("unk_token");
            for (int i = 0; i < tokens.Length; i++)
                if (types[i] == Normal && ByteToken().IsMatch(tokens[i])) types[i] = Byte;
            if (unk is not null && ids.TryGetValue(unk, out int unkId)) types[unkId] = Unknown;
            Set("tokenizer.ggml.tokens", Array(GgufValueType.String, tokens));
            Set("tokenizer.ggml.scores", Array(GgufValueType.Float32, Scores(tokens, ids, merges)));
            Set("tokenizer.ggml.token_type", Array(GgufValueType.Int32, types));
            if (unk is not null) Set("tokenizer.ggml.unknown_token_id", Id(model, "unk_token", unk, ids));
            bool prefix = tokenizerConfig?.Bool("add_prefix_space") ?? AddsSpacePrefix(json);
            Set("tokenizer.ggml.add_space_prefix", new GgufValue(GgufValueType.Bool, prefix));
        }
        else
        {
            // llama.cpp applies no normalizer to byte-level BPE and ignores Qwen's NFC; so does this engine, to tokenize as the converted file would.
            if (json.Object("normalizer") is { } normalizer && normalizer.String("type") != "NFC")
                throw json.Invalid("normalizer", $"{Shorten(normalizer.Root.GetRawText())} is not supported with byte-level BPE (none, or NFC)");
            string pre = PreTokenizerName(json);
            Set("tokenizer.ggml.pre", Str(pre));
            Set("tokenizer.ggml.tokens", Array(GgufValueType.String, tokens));
            Set("tokenizer.ggml.token_type", Array(GgufValueType.Int32, types));
            Set("tokenizer.ggml.merges", Array(GgufValueType.String, merges.Select(m => m.Left + " " + m.Right).ToArray()));
        }
        AddSpecialTokens(json, tokenizerConfig, config, ids, tokens.Length, metadata);
        return metadata;
    }

    /// <summary>
    /// Tokens by id (vocab, then added tokens, padded to <paramref name="padTo"/>), with their GGUF types before the
    /// kind-specific fix-ups.
    /// </summary>
    static (string[] Tokens, int[] Types) ReadVocabulary(HfJsonFile json, HfJsonFile model, int padTo)
    {
        if (model.Find("vocab") is not { ValueKind: JsonValueKind.Object } vocab) throw model.Missing("vocab", "an object of token → id");
        var byId = new Dictionary<int, (string Text, int Type)>();
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0 || id >= MaxVocab)
                throw model.Invalid($"vocab.{entry.Name}", $"id {entry.Value.GetRawText()} is not an integer in 0..{MaxVocab - 1}");
            if (!byId.TryAdd(id, (entry.Name, Normal)))
                throw model.Invalid($"vocab.{entry.Name}", $"id {id} is also \"{byId[id].Text}\"");
        }
        if (json.Find("added_tokens") is { } added)
        {
            if (added.ValueKind != JsonValueKind.Array) throw json.Invalid("added_tokens", "must be an array");
            int i = 0;
            foreach (var item in added.EnumerateArray())
            {
                var token = HfJsonFile.Of(json.FileName, item);
                string field = $"added_tokens[{i++}]";
                long id = token.Int("id") ?? throw json.Invalid(field, "has no id");
                string content = token.String("content") ?? throw json.Invalid(field, "has no content");
                if (id < 0 || id >= MaxVocab) throw json.Invalid(field, $"id {id} is not in 0..{MaxVocab - 1}");
                int type = token.Bool("special") ?? false ? Control : UserDefined;
                if (byId.TryGetValue((int)id, out var existing) && existing.Text != content)
                    throw json.Invalid(field, $"id {id} is \"{content}\" here but \"{existing.Text}\" in the vocab");
                byId[(int)id] = (content, type);
            }
        }
        if (byId.Count == 0) throw model.Invalid("vocab", "is empty");
        int n = Math.Max(byId.Keys.Max() + 1, padTo);
        var tokens = new string[n];
        var types = new int[n];
        for (int id = 0; id < n; id++)
        {
            // Ids nobody names get llama.cpp's converter's padding token.
            (tokens[id], types[id]) = byId.TryGetValue(id, out var t) ? t : ($"[PAD{id}]", Unused);
        }
        return (tokens, types);
    }

    /// <summary>The merges in rank order, written either "left right" or ["left", "right"].</summary>
    static List<(string Left, string Right)> ReadMerges(HfJsonFile model)
    {
        var merges = new List<(string, string)>();
        if (model.Find("merges") is not { } array) return merges;
        if (array.ValueKind != JsonValueKind.Array) throw model.Invalid("merges", "must be an array");
        int i = 0;
        foreach (var m in array.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String && m.GetString()! is var line && line.IndexOf(' ', 1) is > 0 and var space)
                merges.Add((line[..space], line[(space + 1)..]));
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                merges.Add((m[0].GetString()!, m[1].GetString()!));
            else throw model.Invalid($"merges[{i}]", $"{m.GetRawText()} is not a merge (\"left right\" or [\"left\", \"right\"])");
            i++;
        }
        return merges;
    }

    /// <summary>
    /// SentencePiece scores from the merge ranks: the token a merge makes scores minus that merge's rank (its first
    /// one), so higher-ranked merges win as they do in BPE; tokens no merge makes score 0, as llama.cpp's byte and
    /// control tokens do (a score matters only for a token that two symbols can form).
    /// </summary>
    static float[] Scores(string[] tokens, Dictionary<string, int> ids, List<(string Left, string Right)> merges)
    {
        var scores = new float[tokens.Length];
        var set = new bool[tokens.Length];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            if (!ids.TryGetValue(merges[rank].Left + merges[rank].Right, out int id) || set[id]) continue;
            scores[id] = -rank - 1;
            set[id] = true;
        }
        return scores;
    }

    /// <summary>Only the normalizer and pre-tokenizer of SentencePiece conversions: ▁ for spaces, optionally a ▁ prefix.</summary>
    static void CheckSentencePieceShape(HfJsonFile json)
    {
        if (json.Object("normalizer") is { } normalizer)
        {
            var steps = normalizer.String("type") == "Sequence"
                ? (normalizer.Find("normalizers")?.EnumerateArray().Select(e => HfJsonFile.Of(json.FileName, e)).ToArray() ?? [])
                : [normalizer];
            foreach (var step in steps)
            {
                bool known = step.String("type") switch
                {
                    "Prepend" => step.String("prepend") == "▁",
                    "Replace" => step.Object("pattern")?.String("String") == " " && step.String("content") == "▁",
                    _ => false,
                };
                if (!known) throw json.Invalid("normalizer", $"{step.Root.GetRawText()} is not a step this engine implements (Prepend ▁, Replace ' ' → ▁)");
            }
        }
        if (json.Object("pre_tokenizer") is { } pre)
        {
            bool metaspace = pre.String("type") == "Metaspace" && pre.String("replacement") == "▁";
            if (!metaspace || (pre.Bool("split") ?? true))
                throw json.Invalid("pre_tokenizer", $"{Shorten(pre.Root.GetRawText())} is not supported with byte fallback (only Metaspace ▁ without split)");
        }
    }

    static bool AddsSpacePrefix(HfJsonFile json)
    {
        if (json.Object("pre_tokenizer") is { } pre)
            return pre.String("prepend_scheme") is { } scheme ? scheme != "never" : pre.Bool("add_prefix_space") ?? true;
        if (json.Object("normalizer") is not { } normalizer) return false;
        var steps = normalizer.String("type") == "Sequence" ? normalizer.Find("normalizers")!.Value.EnumerateArray().ToArray() : [normalizer.Root];
        return steps.Any(s => HfJsonFile.Of(json.FileName, s).String("type") == "Prepend");
    }

    /// <summary>The llama.cpp pre-tokenizer name of a byte-level BPE's pre_tokenizer: its Split regexes, then ByteLevel.</summary>
    static string PreTokenizerName(HfJsonFile json)
    {
        var pre = json.Object("pre_tokenizer") ?? throw json.Missing("pre_tokenizer", "a byte-level BPE splits text with one");
        var steps = pre.String("type") == "Sequence"
            ? (pre.Find("pretokenizers")?.EnumerateArray().Select(e => HfJsonFile.Of(json.FileName, e)).ToList() ?? [])
            : [pre];
        if (steps.Count == 0 || steps[^1].String("type") != "ByteLevel")
            throw json.Invalid("pre_tokenizer", $"{Shorten(pre.Root.GetRawText())} does not end with ByteLevel: not a byte-level BPE this engine implements");
        bool byteLevelRegex = steps[^1].Bool("use_regex") ?? true;
        var patterns = new List<string>();
        foreach (var step in steps.Take(steps.Count - 1))
        {
            if (step.String("type") != "Split" || step.Object("pattern")?.String("Regex") is not { } regex
                || (step.String("behavior") ?? "Isolated") != "Isolated" || (step.Bool("invert") ?? false))
                throw json.Invalid("pre_tokenizer", $"step {Shorten(step.Root.GetRawText())} is not an isolating Split by regex");
            patterns.Add(regex);
        }
        string? name = (byteLevelRegex, patterns.Count) switch
        {
            (true, 0) => HfPreTokenizers.ByteLevelOnly,
            (false, > 0) => HfPreTokenizers.Identify(patterns),
            _ => null,
        };
        return name ?? throw json.Invalid("pre_tokenizer",
            $"the splits [{string.Join(", ", patterns.Select(p => $"\"{Shorten(p)}\""))}] (ByteLevel use_regex {byteLevelRegex}) are not a pre-tokenizer this engine knows ({string.Join(", ", HfPreTokenizers.Names)})");
    }

    /// <summary>BOS/EOS/padding ids and whether to add BOS/EOS, from tokenizer_config.json, the post-processor and config.json, in that order.</summary>
    static void AddSpecialTokens(HfJsonFile json, HfJsonFile? tokenizerConfig, HfJsonFile? config, Dictionary<string, int> ids, int vocabSize, List<(string Key, GgufValue Value)> metadata)
    {
        foreach (var (name, key) in new[] { ("bos", "bos_token_id"), ("eos", "eos_token_id"), ("pad", "padding_token_id") })
        {
            GgufValue? id = null;
            string tokenKey = name + "_token";
            if (tokenizerConfig?.Find(tokenKey) is { } token)
            {
                string? text = token.ValueKind == JsonValueKind.String ? token.GetString()
                    : token.ValueKind == JsonValueKind.Object ? HfJsonFile.Of(tokenizerConfig.FileName, token).String("content") : null;
                if (text is null) throw tokenizerConfig.Invalid(tokenKey, "must be a token's text or an object with its content");
                id = Id(tokenizerConfig, tokenKey, text, ids);
            }
            else if (config?.Int(name + "_token_id") is long configured)
            {
                if (configured < 0 || configured >= vocabSize) throw config.Invalid(name + "_token_id", $"id {configured} is outside the vocabulary (0..{vocabSize - 1})");
                id = new GgufValue(GgufValueType.UInt32, (uint)configured);
            }
            if (id is not null) metadata.Add(("tokenizer.ggml." + key, id));
        }
        var (bos, eos) = TemplateSpecials(json);
        if ((tokenizerConfig?.Bool("add_bos_token") ?? bos) is bool addBos) metadata.Add(("tokenizer.ggml.add_bos_token", new GgufValue(GgufValueType.Bool, addBos)));
        if ((tokenizerConfig?.Bool("add_eos_token") ?? eos) is bool addEos) metadata.Add(("tokenizer.ggml.add_eos_token", new GgufValue(GgufValueType.Bool, addEos)));
        if (tokenizerConfig?.Find("chat_template") is { ValueKind: JsonValueKind.String } template)
            metadata.Add(("tokenizer.chat_template", Str(template.GetString()!)));
    }

    /// <summary>Whether a TemplateProcessing post-processor puts a special token before / after a single sequence; nulls when there is none.</summary>
    static (bool? Bos, bool? Eos) TemplateSpecials(HfJsonFile json)
    {
        if (json.Object("post_processor") is not { } post || post.String("type") != "TemplateProcessing") return (null, null);
        if (post.Find("single") is not { ValueKind: JsonValueKind.Array } single || single.GetArrayLength() == 0) return (null, null);
        static bool Special(JsonElement e) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("SpecialToken", out _);
        return (Special(single[0]), Special(single[single.GetArrayLength() - 1]));
    }

    static GgufValue Id(HfJsonFile file, string key, string text, Dictionary<string, int> ids) =>
        ids.TryGetValue(text, out int id) ? new GgufValue(GgufValueType.UInt32, (uint)id)
            : throw file.Invalid(key, $"\"{Shorten(text)}\" is not a token of the vocabulary");

    static GgufValue Str(string s) => new(GgufValueType.String, s);
    static GgufValue Array(GgufValueType type, System.Array items) => new(GgufValueType.Array, new GgufArray(type, items));
    static string Shorten(string s) => s.Length <= 120 ? s : s[..120] + "…";

    [GeneratedRegex("^<0x[0-9A-Fa-f]{2}>$")]
    private static partial Regex ByteToken();
}

using System.Text.Encodings.Web;
using System.Text.Json;
using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Formats.HuggingFace;

/// <summary>
/// The inverse of <see cref="HfTokenizer"/>: writes <c>tokenizer.json</c> and <c>tokenizer_config.json</c> for the
/// tokenizer a GGUF header describes, in the layout transformers' converters produce, so a GGUF model can be turned
/// into a Hugging Face directory that tokenizes the same (tests, tools).
/// </summary>
/// <remarks>
/// A SentencePiece vocabulary (<c>llama</c>) becomes BPE with byte fallback whose merges are, as transformers'
/// SentencePiece extractor makes them, every pair of vocabulary pieces that concatenates to a normal piece, ranked
/// by that piece's score (ties by id). A byte-level vocabulary (<c>gpt2</c>) keeps its merges and gets the Split
/// steps of its pre-tokenizer name (<see cref="HfPreTokenizers"/>).
/// </remarks>
public static class HfTokenizerWriter
{
    const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5;

    static readonly JsonWriterOptions Options = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Write(GgufHeader header, string directory)
    {
        string model = header.GetString("tokenizer.ggml.model") ?? throw new ArgumentException("the GGUF header has no tokenizer.ggml.model");
        if (model is not ("llama" or "gpt2")) throw new ArgumentException($"tokenizer model \"{model}\" cannot be written as tokenizer.json");
        var tokens = header.GetArray("tokenizer.ggml.tokens")?.Items as string[] ?? throw new ArgumentException("tokenizer.ggml.tokens is missing");
        var types = header.GetArray("tokenizer.ggml.token_type")?.Items as int[] ?? Enumerable.Repeat(Normal, tokens.Length).ToArray();
        bool spm = model == "llama";
        int? Special(string key) => header.GetInt("tokenizer.ggml." + key) is long id ? (int)id : null;
        int? bos = Special("bos_token_id"), eos = Special("eos_token_id"), unk = Special("unknown_token_id");
        bool addBos = header.GetBool("tokenizer.ggml.add_bos_token") ?? spm;
        bool addEos = header.GetBool("tokenizer.ggml.add_eos_token") ?? false;
        bool addPrefix = header.GetBool("tokenizer.ggml.add_space_prefix") ?? spm;

        using (var stream = File.Create(Path.Combine(directory, HfTokenizer.FileName)))
        using (var w = new Utf8JsonWriter(stream, Options))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteStartArray("added_tokens");
            for (int id = 0; id < tokens.Length; id++)
            {
                if (types[id] is not (Control or UserDefined or Unknown)) continue;
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", tokens[id]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", types[id] == UserDefined);
                w.WriteBoolean("special", types[id] != UserDefined);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (spm) WriteSentencePieceSteps(w, addPrefix);
            else WriteByteLevelSteps(w, header.GetString("tokenizer.ggml.pre") ?? "default");
            WritePostProcessor(w, tokens, addBos ? bos : null, addEos ? eos : null);

            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            if (spm && unk is int u) w.WriteString("unk_token", tokens[u]);
            else w.WriteNull("unk_token");
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", spm);
            w.WriteBoolean("byte_fallback", spm);
            w.WriteStartObject("vocab");
            // Added tokens belong in the vocab too (as SentencePiece conversions have them), except byte-level ones.
            for (int id = 0; id < tokens.Length; id++)
                if (types[id] != Unused && (spm || types[id] is not (Control or UserDefined))) w.WriteNumber(tokens[id], id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var merge in spm ? SentencePieceMerges(header, tokens, types) : header.GetArray("tokenizer.ggml.merges")?.Items as string[] ?? [])
                w.WriteStringValue(merge);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        using (var stream = File.Create(Path.Combine(directory, HfTokenizer.ConfigFileName)))
        using (var w = new Utf8JsonWriter(stream, Options))
        {
            w.WriteStartObject();
            w.WriteBoolean("add_bos_token", addBos);
            w.WriteBoolean("add_eos_token", addEos);
            if (bos is int b) w.WriteString("bos_token", tokens[b]);
            if (eos is int e) w.WriteString("eos_token", tokens[e]);
            if (unk is int k) w.WriteString("unk_token", tokens[k]);
            if (header.GetString("tokenizer.chat_template") is { } template) w.WriteString("chat_template", template);
            w.WriteEndObject();
        }
    }

    static void WriteSentencePieceSteps(Utf8JsonWriter w, bool addPrefix)
    {
        w.WriteStartObject("normalizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("normalizers");
        if (addPrefix)
        {
            w.WriteStartObject();
            w.WriteString("type", "Prepend");
            w.WriteString("prepend", "▁");
            w.WriteEndObject();
        }
        WriteReplace(w, " ", "▁");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteNull("pre_tokenizer");
        w.WriteStartObject("decoder");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("decoders");
        WriteReplace(w, "▁", " ");
        foreach (var type in new[] { "ByteFallback", "Fuse" })
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A normalizer or decoder step that replaces every <paramref name="from"/> with <paramref name="to"/>.</summary>
    static void WriteReplace(Utf8JsonWriter w, string from, string to)
    {
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("String", from);
        w.WriteEndObject();
        w.WriteString("content", to);
        w.WriteEndObject();
    }

    static void WriteByteLevelSteps(Utf8JsonWriter w, string pre)
    {
        var patterns = HfPreTokenizers.Patterns(pre) ?? throw new ArgumentException($"pre-tokenizer \"{pre}\" has no tokenizer.json form here (known: {string.Join(", ", HfPreTokenizers.Names)})");
        w.WriteNull("normalizer");
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        foreach (var pattern in patterns)
        {
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", pattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
        }
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", patterns.Length == 0);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteEndObject();
    }

    static void WritePostProcessor(Utf8JsonWriter w, string[] tokens, int? bos, int? eos)
    {
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        void Special(int id)
        {
            w.WriteStartObject();
            w.WriteStartObject("SpecialToken");
            w.WriteString("id", tokens[id]);
            w.WriteNumber("type_id", 0);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        if (bos is int b) Special(b);
        w.WriteStartObject();
        w.WriteStartObject("Sequence");
        w.WriteString("id", "A");
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
        if (eos is int e) Special(e);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        foreach (int id in new[] { bos, eos }.OfType<int>().Distinct())
        {
            w.WriteStartObject(tokens[id]);
            w.WriteString("id", tokens[id]);
            w.WriteStartArray("ids");
            w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(tokens[id]);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Every split of a normal piece into two pieces of the vocabulary, by the piece's score (highest first), then id.</summary>
    static IEnumerable<string> SentencePieceMerges(GgufHeader header, string[] tokens, int[] types)
    {
        var scores = header.GetArray("tokenizer.ggml.scores")?.Items as float[] ?? new float[tokens.Length];
        var pieces = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < tokens.Length; id++)
            if (types[id] == Normal) pieces.TryAdd(tokens[id], id);
        var merges = new List<(float Score, int Id, int Left, int Right, string Line)>();
        foreach (var (piece, id) in pieces)
        {
            for (int k = 1; k < piece.Length; k++)
            {
                if (char.IsLowSurrogate(piece[k])) continue;
                if (pieces.TryGetValue(piece[..k], out int left) && pieces.TryGetValue(piece[k..], out int right))
                    merges.Add((scores[id], id, left, right, piece[..k] + " " + piece[k..]));
            }
        }
        return merges.OrderByDescending(m => m.Score).ThenBy(m => m.Id).ThenBy(m => m.Left).ThenBy(m => m.Right).Select(m => m.Line);
    }
}

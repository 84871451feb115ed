using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Model;

/// <summary>How RoPE pairs dimensions: NORM rotates (x[2i], x[2i+1]); NEOX rotates (x[i], x[i + d/2]).</summary>
public enum RopeMode
{
    Norm,
    Neox,
}

/// <summary>
/// Hyper-parameters of a decoder-only transformer, named after the GGUF keys they come from
/// (<c>{arch}.embedding_length</c> → <see cref="EmbeddingLength"/>, …). Derived values are computed properties.
/// </summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    /// <summary><c>attention.key_length</c>: width of one query/key head.</summary>
    public required int KeyLength { get; init; }
    /// <summary><c>attention.value_length</c>: width of one value head.</summary>
    public required int ValueLength { get; init; }
    public required int RopeDimensionCount { get; init; }
    public required float RopeFreqBase { get; init; }
    /// <summary>Position multiplier: 1 / <c>rope.scaling.factor</c> under linear scaling, else 1.</summary>
    public required float RopeFreqScale { get; init; }
    public required RopeMode RopeMode { get; init; }
    public required float RmsNormEps { get; init; }
    public required int ExpertCount { get; init; }
    public required int ExpertUsedCount { get; init; }
    public required int ExpertFeedForwardLength { get; init; }

    public bool IsMoe => ExpertCount > 0;
    public int QueryWidth => HeadCount * KeyLength;
    public int KeyWidth => HeadCountKv * KeyLength;
    public int ValueWidth => HeadCountKv * ValueLength;
    /// <summary>Query heads that share one key/value head (grouped-query attention).</summary>
    public int GroupSize => HeadCount / HeadCountKv;

    /// <summary>Reads the <c>llama</c>-family keys of <paramref name="h"/>; vocabulary size comes from the token table.</summary>
    public static ModelConfig FromGguf(GgufHeader h, RopeMode ropeMode)
    {
        string arch = h.GetString("general.architecture") ?? throw new ModelLoadException("general.architecture is missing");
        int Int(string key) => Positive(h, $"{arch}.{key}");
        int IntOr(string key, int fallback) => h.GetInt($"{arch}.{key}") is long v ? Checked(key, v) : fallback;

        int dim = Int("embedding_length");
        int heads = Int("attention.head_count");
        int kvHeads = IntOr("attention.head_count_kv", heads);
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ModelLoadException($"{arch}.attention.head_count_kv = {kvHeads} does not divide head_count = {heads}");
        int keyLength = IntOr("attention.key_length", dim / heads);
        int valueLength = IntOr("attention.value_length", keyLength);
        int ropeDims = IntOr("rope.dimension_count", keyLength);
        if (ropeDims > keyLength || ropeDims % 2 != 0)
            throw new ModelLoadException($"{arch}.rope.dimension_count = {ropeDims} must be even and at most the head width {keyLength}");

        float scale = 1f;
        string? scalingType = h.GetString($"{arch}.rope.scaling.type");
        double? factor = h.GetDouble($"{arch}.rope.scaling.factor") ?? h.GetDouble($"{arch}.rope.scale_linear");
        if (scalingType is null or "linear" && factor is double f && f > 0) scale = (float)(1.0 / f);
        else if (scalingType is not (null or "none" or "linear"))
            throw new ModelLoadException($"{arch}.rope.scaling.type = \"{scalingType}\" is not supported for this architecture");

        var tokens = h.GetArray("tokenizer.ggml.tokens");
        int vocab = tokens?.Count ?? IntOr("vocab_size", 0);
        if (vocab <= 0) throw new ModelLoadException("the vocabulary size is unknown: tokenizer.ggml.tokens is missing");

        int experts = IntOr("expert_count", 0);
        int used = IntOr("expert_used_count", 0);
        if (experts > 0 && (used <= 0 || used > experts))
            throw new ModelLoadException($"{arch}.expert_used_count = {used} must be in 1..expert_count ({experts})");
        int ffn = IntOr("feed_forward_length", 0);

        return new ModelConfig
        {
            Architecture = arch,
            VocabSize = vocab,
            ContextLength = IntOr("context_length", 4096),
            EmbeddingLength = dim,
            BlockCount = Int("block_count"),
            FeedForwardLength = ffn,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            KeyLength = keyLength,
            ValueLength = valueLength,
            RopeDimensionCount = ropeDims,
            RopeFreqBase = (float)(h.GetDouble($"{arch}.rope.freq_base") ?? 10000.0),
            RopeFreqScale = scale,
            RopeMode = ropeMode,
            RmsNormEps = (float)(h.GetDouble($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            ExpertCount = experts,
            ExpertUsedCount = used,
            ExpertFeedForwardLength = IntOr("expert_feed_forward_length", ffn),
        };
    }

    /// <summary>Largest dimension accepted from a file; anything larger is a corrupt header, not a model.</summary>
    const long MaxDimension = 1 << 24;

    static int Positive(GgufHeader h, string key)
    {
        long v = h.GetInt(key) ?? throw new ModelLoadException($"{key} is missing");
        if (v <= 0) throw new ModelLoadException($"{key} = {v} must be positive");
        return Checked(key, v);
    }

    static int Checked(string key, long v) =>
        v is < 0 or > MaxDimension ? throw new ModelLoadException($"{key} = {v} is out of range") : (int)v;
}

using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Layers;

namespace MoeSpeq.Model;

/// <summary>How RoPE pairs dimensions: NORM rotates (x[2i], x[2i+1]); NEOX rotates (x[i], x[i + d/2]).</summary>
public enum RopeMode
{
    Norm,
    Neox,
}

/// <summary>How positions are scaled beyond the trained context, after llama.cpp's <c>rope.scaling.type</c>.</summary>
public enum RopeScalingType
{
    None,
    Linear,
    Yarn,
    LongRope,
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
    /// <summary>Position multiplier: 1 / <c>rope.scaling.factor</c> under linear or YaRN scaling, else 1.</summary>
    public required float RopeFreqScale { get; init; }
    public required RopeMode RopeMode { get; init; }
    public RopeScalingType RopeScaling { get; init; } = RopeScalingType.None;
    /// <summary><c>rope.scaling.original_context_length</c>: the context the model was trained at before scaling.</summary>
    public int RopeOriginalContext { get; init; }
    /// <summary>
    /// What every RoPE cos and sin is multiplied by: YaRN's magnitude correction (cancelling the one the kernel
    /// applies itself) times <c>rope.scaling.attn_factor</c>, as llama.cpp's context computes it.
    /// </summary>
    public float RopeAttentionFactor { get; init; } = 1f;
    /// <summary>YaRN's extrapolation mix, or null when the model does not use YaRN.</summary>
    public YarnParameters? Yarn { get; init; }
    /// <summary><c>rope.scaling.yarn_log_multiplier</c> (DeepSeek's mscale_all_dim), 0 when absent.</summary>
    public float YarnLogMultiplier { get; init; }
    public required float RmsNormEps { get; init; }
    public required int ExpertCount { get; init; }
    public required int ExpertUsedCount { get; init; }
    public required int ExpertFeedForwardLength { get; init; }
    /// <summary><c>expert_shared_feed_forward_length</c>: width of the shared expert beside the routed ones (Qwen2-MoE), 0 when absent.</summary>
    public int SharedExpertFeedForwardLength { get; init; }

    /// <summary>
    /// The values of each KV head are the leading <see cref="ValueLength"/> columns of its key, so the KV cache stores
    /// no values (MLA: keys are [latent kv | rope key], values the latent kv). Set by the architecture at load; no GGUF key.
    /// </summary>
    public bool ValuesInKeys { get; init; }

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

        var scaling = h.GetString($"{arch}.rope.scaling.type") switch
        {
            null or "linear" => RopeScalingType.Linear,
            "none" => RopeScalingType.None,
            "yarn" => RopeScalingType.Yarn,
            "longrope" => RopeScalingType.LongRope,
            var other => throw new ModelLoadException($"{arch}.rope.scaling.type = \"{other}\" is not a known RoPE scaling (none, linear, yarn, longrope)"),
        };
        double factor = h.GetDouble($"{arch}.rope.scaling.factor") ?? h.GetDouble($"{arch}.rope.scale_linear") ?? 0;
        if (factor < 0 || !double.IsFinite(factor)) throw new ModelLoadException($"{arch}.rope.scaling.factor = {factor} must be positive");
        float scale = scaling == RopeScalingType.None || factor == 0 ? 1f : (float)(1.0 / factor);
        int contextLength = IntOr("context_length", 4096);
        int originalContext = IntOr("rope.scaling.original_context_length", contextLength);
        float freqBase = (float)(h.GetDouble($"{arch}.rope.freq_base") ?? 10000.0);
        float logMultiplier = (float)(h.GetDouble($"{arch}.rope.scaling.yarn_log_multiplier") ?? 0);
        float extFactor = (float)(h.GetDouble($"{arch}.rope.scaling.yarn_ext_factor") ?? (scaling == RopeScalingType.Yarn ? 1 : 0));
        var yarn = extFactor == 0 ? null : new YarnParameters(extFactor, originalContext,
            (float)(h.GetDouble($"{arch}.rope.scaling.yarn_beta_fast") ?? 32), (float)(h.GetDouble($"{arch}.rope.scaling.yarn_beta_slow") ?? 1));
        float attnFactor = YarnAttentionFactor(arch, yarn, scale, logMultiplier) * (float)(h.GetDouble($"{arch}.rope.scaling.attn_factor") ?? 1);

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
            ContextLength = contextLength,
            EmbeddingLength = dim,
            BlockCount = Int("block_count"),
            FeedForwardLength = ffn,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            KeyLength = keyLength,
            ValueLength = valueLength,
            RopeDimensionCount = ropeDims,
            RopeFreqBase = freqBase,
            RopeFreqScale = scale,
            RopeMode = ropeMode,
            RopeScaling = scaling,
            RopeOriginalContext = originalContext,
            RopeAttentionFactor = attnFactor,
            Yarn = yarn,
            YarnLogMultiplier = logMultiplier,
            RmsNormEps = (float)(h.GetDouble($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            ExpertCount = experts,
            ExpertUsedCount = used,
            ExpertFeedForwardLength = IntOr("expert_feed_forward_length", ffn),
            SharedExpertFeedForwardLength = IntOr("expert_shared_feed_forward_length", 0),
        };
    }

    /// <summary>
    /// The cos/sin multiplier under YaRN, as llama.cpp's context derives it: mscale(factor) = 0.1·m·ln(factor) + 1 with
    /// m = 1, or with DeepSeek's mscale / mscale_all_dim ratio when a log multiplier is given; then divided by the
    /// correction the rope kernel applies itself, so that the two cancel.
    /// </summary>
    static float YarnAttentionFactor(string arch, YarnParameters? yarn, float freqScale, float logMultiplier)
    {
        if (yarn is null) return 1f;
        float factor = 1f / freqScale;
        static float MScale(float scale, float m) => scale <= 1f ? 1f : 0.1f * m * MathF.Log(scale) + 1f;
        float attn;
        if (logMultiplier != 0f)
        {
            // DeepSeek-V2's config gives mscale = mscale_all_dim, which llama.cpp assumes when it is not 1.
            float mscale = arch == "deepseek2" && logMultiplier != 1f ? logMultiplier : 1f;
            attn = MScale(factor, mscale) / MScale(factor, logMultiplier);
        }
        else attn = MScale(factor, 1f);
        return attn * (1f / (1f + 0.1f * MathF.Log(factor)));
    }

    /// <summary>
    /// The model's rotary embedding as its hyper-parameters give it; <paramref name="freqFactors"/> are per-pair
    /// frequency divisors (LongRoPE), chosen by the architecture.
    /// </summary>
    public Rope CreateRope(float[]? freqFactors = null) =>
        new(RopeDimensionCount, RopeFreqBase, RopeFreqScale, RopeMode, freqFactors, RopeAttentionFactor, Yarn);

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

using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Tools;

/// <summary>
/// The true dimensions of a published MoE model, for benchmarks with real per-expert byte sizes: everything that
/// decides the bytes of an expert, of the resident weights and of the KV cache. Fields mirror the models' Hugging
/// Face <c>config.json</c>; zero means "the architecture does not have it".
/// </summary>
public sealed record ModelPreset
{
    public required string Name { get; init; }
    /// <summary>The llama.cpp architecture the file is written as (<c>general.architecture</c>).</summary>
    public required string Architecture { get; init; }
    public required int Layers { get; init; }
    public required int Dim { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    /// <summary>Query/key head width; n_embd / heads when the config gives none.</summary>
    public int HeadDim { get; init; }
    public required int Vocab { get; init; }
    public required int ContextLength { get; init; }
    public required float RopeTheta { get; init; }
    public float NormEps { get; init; } = 1e-6f;
    /// <summary>Width of a dense layer's feed-forward network (leading dense layers).</summary>
    public int Ffn { get; init; }
    public required int Experts { get; init; }
    public required int ExpertsUsed { get; init; }
    public required int ExpertFfn { get; init; }
    /// <summary>Shared experts run for every token (DeepSeek's count, each <see cref="ExpertFfn"/> wide).</summary>
    public int SharedExperts { get; init; }
    /// <summary>Width of Qwen2-MoE's single sigmoid-gated shared expert.</summary>
    public int SharedExpertFfn { get; init; }
    public int LeadingDenseLayers { get; init; }
    public bool NormalizeTopK { get; init; }
    // Multi-head latent attention (DeepSeek-V2/V3).
    public int QLoraRank { get; init; }
    public int KvLoraRank { get; init; }
    public int QkNopeHeadDim { get; init; }
    public int QkRopeHeadDim { get; init; }
    public int VHeadDim { get; init; }
    // gpt-oss.
    public int SlidingWindow { get; init; }
    // RoPE scaling.
    public string? RopeScaling { get; init; }
    public float RopeScalingFactor { get; init; }
    public int RopeOriginalContext { get; init; }
    public float YarnLogMultiplier { get; init; }
    public float RopeAttnFactor { get; init; }
    /// <summary>LongRoPE's per-pair frequency factors are written (Phi-3.5).</summary>
    public bool LongRopeFactors { get; init; }
    /// <summary>The weight type published files use for the routed experts.</summary>
    public GgmlType ExpertType { get; init; } = GgmlType.Q4_K;
    /// <summary>The weight type of every other matrix.</summary>
    public GgmlType OtherType { get; init; } = GgmlType.Q4_K;

    public int HeadWidth => HeadDim > 0 ? HeadDim : Dim / Heads;

    public static readonly IReadOnlyList<ModelPreset> All =
    [
        new()
        {
            Name = "mixtral-8x7b", Architecture = "llama", Layers = 32, Dim = 4096, Heads = 32, KvHeads = 8, Vocab = 32000,
            ContextLength = 32768, RopeTheta = 1e6f, NormEps = 1e-5f, Experts = 8, ExpertsUsed = 2, ExpertFfn = 14336, NormalizeTopK = true,
        },
        new()
        {
            Name = "qwen1.5-moe-a2.7b", Architecture = "qwen2moe", Layers = 24, Dim = 2048, Heads = 16, KvHeads = 16, Vocab = 151936,
            ContextLength = 8192, RopeTheta = 1e6f, Experts = 60, ExpertsUsed = 4, ExpertFfn = 1408, SharedExpertFfn = 5632,
        },
        new()
        {
            Name = "qwen3-30b-a3b", Architecture = "qwen3moe", Layers = 48, Dim = 2048, Heads = 32, KvHeads = 4, HeadDim = 128, Vocab = 151936,
            ContextLength = 40960, RopeTheta = 1e6f, Experts = 128, ExpertsUsed = 8, ExpertFfn = 768, NormalizeTopK = true,
        },
        new()
        {
            Name = "deepseek-v2-lite", Architecture = "deepseek2", Layers = 27, Dim = 2048, Heads = 16, KvHeads = 1, Vocab = 102400,
            ContextLength = 163840, RopeTheta = 10000f, Ffn = 10944, Experts = 64, ExpertsUsed = 6, ExpertFfn = 1408, SharedExperts = 2,
            LeadingDenseLayers = 1, KvLoraRank = 512, QkNopeHeadDim = 128, QkRopeHeadDim = 64, VHeadDim = 128,
            RopeScaling = "yarn", RopeScalingFactor = 40, RopeOriginalContext = 4096, YarnLogMultiplier = 0.0707f,
        },
        new()
        {
            Name = "phi-3.5-moe", Architecture = "phimoe", Layers = 32, Dim = 4096, Heads = 32, KvHeads = 8, Vocab = 32064,
            ContextLength = 131072, RopeTheta = 10000f, NormEps = 1e-5f, Experts = 16, ExpertsUsed = 2, ExpertFfn = 6400, NormalizeTopK = true,
            RopeOriginalContext = 4096, RopeAttnFactor = 1.1902381f, LongRopeFactors = true,
        },
        new()
        {
            Name = "olmoe-1b-7b", Architecture = "olmoe", Layers = 16, Dim = 2048, Heads = 16, KvHeads = 16, Vocab = 50304,
            ContextLength = 4096, RopeTheta = 10000f, NormEps = 1e-5f, Experts = 64, ExpertsUsed = 8, ExpertFfn = 1024,
        },
        new()
        {
            Name = "gpt-oss-20b", Architecture = "gpt-oss", Layers = 24, Dim = 2880, Heads = 64, KvHeads = 8, HeadDim = 64, Vocab = 201088,
            ContextLength = 131072, RopeTheta = 150000f, NormEps = 1e-5f, Experts = 32, ExpertsUsed = 4, ExpertFfn = 2880, SlidingWindow = 128,
            RopeScaling = "yarn", RopeScalingFactor = 32, RopeOriginalContext = 4096,
            ExpertType = GgmlType.MXFP4, OtherType = GgmlType.Q8_0,
        },
    ];

    public static IEnumerable<string> Names => All.Select(p => p.Name);

    public static ModelPreset Find(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"--preset \"{name}\" is not known; choose one of {string.Join(", ", Names)}");
}

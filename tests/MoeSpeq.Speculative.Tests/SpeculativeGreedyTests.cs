using MoeSpeq.Experts;
using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// Greedy decoding with a self-draft produces exactly the tokens plain greedy decoding produces, for every depth,
/// the governor, every cache policy and both slow tiers: the draft only proposes, the target decides, and a batched
/// verification computes each row bit for bit as a one-token step does.
/// </summary>
public sealed class SpeculativeGreedyTests
{
    static readonly int[] Prompt = [1, 450, 4996, 17354, 1701, 29889, 338, 263];
    const int Tokens = 40;

    /// <summary>Loads <paramref name="path"/> with a self-draft; returns the plain greedy ids and those of each speculation setting.</summary>
    static (int[] Plain, int[][] Speculative, SpeculationStats.Values Stats) Run(string path, OffloadOptions offload, DraftExpertsSource experts, params string[] settings)
    {
        var runtime = new ExpertRuntime(offload, (catalog, p) => SlowTiers.Open(offload, catalog, p));
        int maxDepth = 8;
        var builder = new SelfDraftBuilder(experts, maxDepth, runtime);
        using var model = ModelLoader.Load(path, builder.Attach(runtime.Attach(new ModelOptions { Threads = 2, MaxBatch = 16 })));
        using var draft = builder.Create(model);
        var tokenizer = Tokenizer.FromGguf(model.File.Header);
        int vocab = model.Config.VocabSize;
        int[] prompt = [.. Prompt.Select(t => t % vocab)];
        var plain = Generate(new Generator(model, tokenizer, 256), prompt);
        var speculative = settings.Select(setting =>
        {
            var options = SpeculationOptions.Parse(setting, maxDepth);
            var decoding = new SpeculativeDecoding(draft, options, runtime);
            return Generate(new Generator(model, tokenizer, 256, decoding), prompt);
        }).ToArray();
        if (runtime.Cache is { } cache)
        {
            // Prefetches still in flight when generation ends hold their slots until they land; then nothing is pinned.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((cache.PinnedCount > 0 || cache.LoadingCount > 0) && DateTime.UtcNow < deadline) Thread.Sleep(5);
            Assert.Equal(0, cache.PinnedCount);
        }
        return (plain, speculative, runtime.Stats.Speculation.Snapshot());
    }

    static int[] Generate(Generator generator, int[] prompt)
    {
        var ids = new List<int>();
        // End-of-generation tokens are ignored by a random-weight model's vocabulary only if they are never argmax;
        // either way both runs must stop at the same place.
        generator.GenerateTokens(prompt, Tokens, SamplerOptions.Greedy, ids.Add);
        return [.. ids];
    }

    internal static void AssertAllEqual(string path, OffloadOptions offload, string draftType = "q4_0", params string[] settings) =>
        AssertAllEqual(path, offload, new DraftExpertsSource.AtLoad(DraftExperts.Types[draftType]), settings);

    /// <summary>Plain greedy and greedy under each speculation setting give the same ids with a self-draft of <paramref name="experts"/>.</summary>
    internal static void AssertAllEqual(string path, OffloadOptions offload, DraftExpertsSource experts, params string[] settings)
    {
        var (plain, speculative, stats) = Run(path, offload, experts, settings);
        Assert.NotEmpty(plain);
        for (int i = 0; i < settings.Length; i++)
            Assert.True(plain.SequenceEqual(speculative[i]),
                $"--speculate {settings[i]}: [{string.Join(' ', speculative[i])}] differs from plain greedy [{string.Join(' ', plain)}]");
        Assert.True(stats.Cycles > 0, "speculation ran no cycles");
        Assert.True(stats.ExpertMatch > 0, "the draft's routing was never scored against the target's");
    }

    public static TheoryData<string> MoeGoldenModels() =>
        ["mixtral-moe-q4_k_m.gguf", "mixtral-moe-q8_0.gguf", "mixtral-moe-q4_0.gguf", "mixtral-moe-f16.gguf", "mixtral-moe-bf16.gguf", "mixtral-moe-f32.gguf"];

    [Theory]
    [MemberData(nameof(MoeGoldenModels))]
    public void EveryDepthAndTheGovernorReproducePlainGreedyOnGoldenModels(string file) =>
        AssertAllEqual(TestPaths.Golden(file), new OffloadOptions(), "q4_0", "1", "2", "3", "5", "8", "auto");

    [Fact]
    public void EveryDepthAndTheGovernorReproducePlainGreedyOnTheTrainedModel() =>
        AssertAllEqual(TestPaths.DemoModel, new OffloadOptions(), "q4_0", "1", "2", "3", "4", "5", "6", "7", "8", "auto");

    [Fact]
    public void TheFullPrecisionTrainedFixtureToo() =>
        AssertAllEqual(TestPaths.Shared("fixtures", "moe-target-f16.gguf"), new OffloadOptions(), "q4_k", "2", "4", "8", "auto");

    [Theory]
    [InlineData("q4_k")]
    [InlineData("q2_k")]
    [InlineData("q8_0")]
    public void EveryDraftExpertTypeReproducesPlainGreedy(string type) =>
        AssertAllEqual(TestPaths.DemoModel, new OffloadOptions(), type, "3", "auto");

    public static TheoryData<string, string, string> TiersAndPolicies()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var tier in new[] { "disk", "host" })
            foreach (var policy in EvictionPolicies.Names)
                data.Add(tier, policy, "25%");
        data.Add("disk", "lookahead", "10%");
        data.Add("host", "lru", "10%");
        return data;
    }

    [Theory]
    [MemberData(nameof(TiersAndPolicies))]
    public void OffloadedTiersAndEveryPolicyReproducePlainGreedy(string tier, string policy, string budget)
    {
        var offload = new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse(budget), Policy = policy, Predictor = "gate-lookahead:1", IoThreads = 2, LinkBandwidthGBps = 4 };
        AssertAllEqual(TestPaths.DemoModel, offload, "q4_0", "1", "4", "8", "auto");
    }

    [Fact]
    public void OffloadedGoldenModelReproducesPlainGreedy()
    {
        var offload = new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("25%"), Policy = "lfu", Predictor = "gate-lookahead:1", IoThreads = 2 };
        AssertAllEqual(TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), offload, "q4_0", "2", "6", "auto");
    }

    [Fact]
    public void TheSelfDraftsExpertsAreLowBitCopiesCountedAsResidentBytes()
    {
        var runtime = new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident"));
        var builder = new SelfDraftBuilder(GgmlType.Q4_0, 4, runtime);
        using var model = ModelLoader.Load(TestPaths.DemoModel, builder.Attach(runtime.Attach(new ModelOptions { Threads = 2 })));
        using var draft = builder.Create(model);
        // The demo's experts are Q8_0 (34 bytes per 32 weights); Q4_0 holds them in 18.
        long expertBytes = model.Weights.File.Header.Tensors.Where(t => t.Name.Contains("_exps")).Sum(t => t.ByteSize);
        Assert.InRange(draft.ResidentBytes, expertBytes * 18 / 34, expertBytes * 18 / 34 + 64L * 3 * 6 * 32);
        Assert.Contains("Q4_0", draft.Description);
    }

    [Fact]
    public void ASelfDraftOfADenseModelIsAClearError()
    {
        var runtime = new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident"));
        var builder = new SelfDraftBuilder(GgmlType.Q4_0, 4, runtime);
        using var model = ModelLoader.Load(TestPaths.Golden("llama-draft.gguf"), builder.Attach(runtime.Attach(new ModelOptions { Threads = 2 })));
        var error = Assert.Throws<ArgumentException>(() => builder.Create(model));
        Assert.Contains("--draft", error.Message);
    }
}

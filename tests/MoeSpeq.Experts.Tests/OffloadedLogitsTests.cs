using MoeSpeq.Experts.Eviction;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// Serving experts from a slow tier through a budgeted cache changes where their bytes come from and when, never
/// the logits: every policy, predictor and budget must reproduce the resident run bit for bit, in prefill and in
/// decode, and the stats must add up.
/// </summary>
public sealed class OffloadedLogitsTests
{
    static readonly int[] Prompt = [1, 450, 4996, 17354, 1701, 29889, 338, 263];
    const int DecodeSteps = 6;

    /// <summary>All-position logits of the prompt, then the logits of each greedy decode step after it.</summary>
    internal static float[] Run(string path, ModelOptions options)
    {
        using var model = ModelLoader.Load(path, options);
        return Run(model);
    }

    internal static float[] Run(LanguageModel model)
    {
        int vocab = model.Config.VocabSize;
        var state = model.CreateState(64);
        var prompt = new float[Prompt.Length * vocab];
        model.Evaluate(state, [.. Prompt.Select(t => t % vocab)], prompt, allLogits: true);
        var all = new List<float>(prompt);
        var step = new float[vocab];
        int token = ArgMax(prompt.AsSpan((Prompt.Length - 1) * vocab, vocab));
        for (int i = 0; i < DecodeSteps; i++)
        {
            model.Evaluate(state, [token], step, allLogits: false);
            all.AddRange(step);
            token = ArgMax(step);
        }
        return [.. all];
    }

    static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    static ExpertRuntime Runtime(string policy, string predictor, string budget, int alignment = 1, int ioThreads = 2) =>
        new(new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse(budget), Policy = policy, Predictor = predictor, IoThreads = ioThreads },
            (_, path) => new FileReadTier(path, alignment));

    public static TheoryData<string, string, string> Combinations()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var policy in EvictionPolicies.Names)
            foreach (var predictor in new[] { "none", "gate-lookahead:2:1", "history:1" })
                // The bundled golden model has 8 experts: 25% is the two slots one layer needs; 10% is tested on the fixture.
                foreach (var budget in new[] { "25%", "50%" })
                    data.Add(policy, predictor, budget);
        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void EveryPolicyPredictorAndBudgetGivesTheResidentLogits(string policy, string predictor, string budget)
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var expected = Run(path, new ModelOptions { Threads = 2 });
        var runtime = Runtime(policy, predictor, budget);
        Assert.Equal(expected, Run(path, runtime.Attach(new ModelOptions { Threads = 2 })));

        var s = runtime.Stats.Snapshot();
        Assert.Equal(s.Accesses, s.Hits + s.LateHits + s.Misses);
        Assert.True(s.Misses > 0, "a cache below 100% must miss");
        Assert.True(s.BytesRead > 0);
        if (predictor != "none") Assert.True(s.Predicted > 0 && s.PrefetchIssued > 0, "the predictor must have predicted");
        // Per-layer predictor counts add up to the aggregate ones.
        Assert.Equal(s.Predicted, s.Layers.Sum(l => l.Predicted));
        Assert.Equal(s.PredictedTrue, s.Layers.Sum(l => l.PredictedTrue));
        Assert.Equal(s.Actual, s.Layers.Sum(l => l.Actual));
    }

    [Fact]
    public void AlignedReadsIntoAlignedSlotsGiveTheSameLogits()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var runtime = Runtime("lru", "gate-lookahead:1:0", "25%", alignment: 4096);
        Assert.Equal(Run(path, new ModelOptions { Threads = 2 }), Run(path, runtime.Attach(new ModelOptions { Threads = 2 })));
        Assert.Equal(0, runtime.Cache!.SlotBytes % 4096);
    }

    /// <summary>
    /// phimoe's 8 experts of 48 KB take 60 KB slots when reads are 4096-aligned: 25% of their bytes is two experts but
    /// fills one slot. A share that holds one layer's experts by their bytes still gets that layer's slots.
    /// </summary>
    [Fact]
    public void AShareOfOneLayerRunsWhenAlignmentPadsItBelowOneLayerOfSlots()
    {
        var path = TestPaths.Golden("phimoe.gguf");
        var runtime = Runtime("lru", "gate-lookahead:1:0", "25%", alignment: 4096);
        Assert.Equal(Run(path, new ModelOptions { Threads = 2 }), Run(path, runtime.Attach(new ModelOptions { Threads = 2 })));
        Assert.Equal(2, runtime.Cache!.SlotCount);
        Assert.Throws<ModelLoadException>(() => Run(path, Runtime("lru", "none", "12%", alignment: 4096).Attach(new ModelOptions { Threads = 2 })));
    }

    public static TheoryData<string, string> PoliciesAndPredictors()
    {
        var data = new TheoryData<string, string>();
        foreach (var policy in EvictionPolicies.Names)
            foreach (var predictor in new[] { "none", "gate-lookahead:1:1", "history:2" })
                data.Add(policy, predictor);
        return data;
    }

    [Theory]
    [MemberData(nameof(PoliciesAndPredictors))]
    public void TheTrainedFixtureAtATenthOfItsExpertsGivesTheResidentLogits(string policy, string predictor)
    {
        if (TestPaths.SharedDir is null) Assert.Skip("../shared is absent: the trained fixture is not available");
        var path = TestPaths.Shared("fixtures", "moe-target-f16.gguf");
        var runtime = Runtime(policy, predictor, "10%");
        Assert.Equal(Run(path, new ModelOptions { Threads = 2 }), Run(path, runtime.Attach(new ModelOptions { Threads = 2 })));
        Assert.True(runtime.Stats.Snapshot().Misses > 0);
    }

    [Fact]
    public void AFullBudgetServesARepeatedRunFromTheCache()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var runtime = Runtime("lru", "none", "100%");
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));
        Run(model);
        var first = runtime.Stats.Snapshot();
        Run(model);
        var second = runtime.Stats.Snapshot();
        Assert.Equal(first.Misses, second.Misses);      // nothing new to read
        Assert.Equal(first.BytesRead, second.BytesRead);
        Assert.True(second.Hits > first.Hits);
    }

    [Fact]
    public void ABudgetBelowOneLayersWorkingSetIsAClearErrorAtLoad()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var runtime = Runtime("lru", "none", "1KiB");
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 1 })).Dispose());
        Assert.Contains("one layer needs", e.Message);
    }

    [Fact]
    public void AFailedReadFailsThatEvaluationAndTheCacheKeepsServing()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        FileReadTier? tier = null;
        var runtime = new ExpertRuntime(new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1:1" },
            (_, p) => tier = new FileReadTier(p));
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));
        tier!.FailAfter = 3;
        var e = Assert.Throws<IOException>(() => Run(model));
        Assert.Contains("injected read failure", e.ToString());

        tier.FailAfter = -1;
        Assert.Equal(Run(path, new ModelOptions { Threads = 2 }), Run(model));
    }
}

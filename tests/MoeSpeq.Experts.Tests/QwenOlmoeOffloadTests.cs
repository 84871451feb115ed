using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// The <c>qwen2moe</c>, <c>qwen3moe</c> and <c>olmoe</c> golden models served from a slow tier through a quarter-size
/// cache: the same logits as resident, in prefill and decode. Qwen2-MoE's shared expert stays resident beside them.
/// </summary>
public sealed class QwenOlmoeOffloadTests
{
    public static TheoryData<string, string> ModelsAndTiers()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "qwen2moe", "qwen3moe", "olmoe" })
            foreach (var tier in new[] { "disk", "host" })
                data.Add(model, tier);
        return data;
    }

    [Theory]
    [MemberData(nameof(ModelsAndTiers))]
    public void AQuarterCacheOverASlowTierGivesTheResidentLogits(string name, string tier)
    {
        var path = TestPaths.Golden(name + ".gguf");
        var options = new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1:1", IoThreads = 2 };
        var runtime = new ExpertRuntime(options, (catalog, p) => SlowTiers.Open(options, catalog, p));
        var resident = OffloadedLogitsTests.Run(path, new ModelOptions { Threads = 2 });
        var offloaded = OffloadedLogitsTests.Run(path, runtime.Attach(new ModelOptions { Threads = 2 }));
        Assert.Equal(resident, offloaded);
        Assert.True(runtime.Stats.Snapshot().Misses > 0, "a quarter of the experts should not have held every expert used");
    }

    /// <summary>
    /// A share of the experts is counted in slots: Qwen2-MoE's experts are 24 KiB of F32, which O_DIRECT's alignment pads
    /// to a half again as much per slot, yet 25% of its 16 experts is still the 4 one top-4 layer needs.
    /// </summary>
    [Theory]
    [InlineData("disk")]
    [InlineData("host")]
    public void APercentageBudgetHoldsThatShareOfTheExpertsWhateverTheAlignment(string tier)
    {
        var path = TestPaths.Golden("qwen2moe.gguf");
        var options = new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse("25%") };
        var runtime = new ExpertRuntime(options, (catalog, p) => SlowTiers.Open(options, catalog, p));
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 1 }));
        Assert.Equal(16, runtime.Catalog!.ExpertCount);
        Assert.Equal(4, runtime.Cache!.SlotCount);
    }
}

using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// gpt-oss through the offloaded runtime: its MXFP4 expert matrices come from a slow tier into cache slots while their
/// biases stay resident with the layout, and the logits must equal the resident run's bit for bit.
/// </summary>
public sealed class GptOssOffloadTests
{
    static string Model => TestPaths.Golden("gpt-oss-mxfp4.gguf");

    public static TheoryData<string, string, string> Combinations() => new()
    {
        // gpt-oss routes to 4 of 8 experts: 25% of its 16 experts is exactly one layer's working set.
        { "lru", "none", "25%" },
        { "lookahead", "gate-lookahead:1:1", "25%" },
        { "lfu", "history:1", "50%" },
        { "activation", "gate-lookahead:2:0", "min" },
    };

    [Theory]
    [MemberData(nameof(Combinations))]
    public void OffloadedLogitsEqualResidentLogits(string policy, string predictor, string budget)
    {
        var expected = OffloadedLogitsTests.Run(Model, new ModelOptions { Threads = 2 });
        var runtime = new ExpertRuntime(
            new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse(budget), Policy = policy, Predictor = predictor, IoThreads = 2 },
            (_, path) => new FileReadTier(path));
        Assert.Equal(expected, OffloadedLogitsTests.Run(Model, runtime.Attach(new ModelOptions { Threads = 2 })));
        var s = runtime.Stats.Snapshot();
        Assert.True(s.Misses > 0 && s.BytesRead > 0, "a partial cache must have read experts from the tier");
    }

    [Theory]
    [InlineData("disk")]
    [InlineData("host")]
    public void RealTiersGiveTheResidentLogits(string tier)
    {
        var options = new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1", IoThreads = 2 };
        var runtime = new ExpertRuntime(options, (catalog, p) => SlowTiers.Open(options, catalog, p));
        Assert.Equal(OffloadedLogitsTests.Run(Model, new ModelOptions { Threads = 2 }), OffloadedLogitsTests.Run(Model, runtime.Attach(new ModelOptions { Threads = 2 })));
        Assert.Equal(4, runtime.Cache!.SlotCount); // 25% of 16 experts, however much alignment pads a slot
    }

    [Fact]
    public unsafe void CachedExpertsKeepTheLayoutsResidentBiases()
    {
        ExpertLayout? layout = null;
        var runtime = new ExpertRuntime(new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("25%") }, (_, path) => new FileReadTier(path));
        var attach = runtime.Attach(new ModelOptions { Threads = 1 });
        using var model = ModelLoader.Load(Model, attach with
        {
            ExpertExecutor = l =>
            {
                layout = l;
                return attach.ExpertExecutor!(l);
            },
        });
        Assert.NotNull(layout);
        Assert.Equal(ExpertActivation.SwiGluOai, layout.Activation);
        var key = new ExpertKey(1, 3);
        var inLayout = layout.Layers[1][3];
        var inSlot = runtime.Catalog!.Weights(key, (byte*)0x1000);
        Assert.NotNull(inLayout.Bias);
        Assert.Same(inLayout.Bias, inSlot.Bias);
        Assert.Equal(Tensors.GgmlType.MXFP4, inSlot.Gate.Type);
        // Only the matrices are read from the tier: no bias bytes are among the expert's reads.
        Assert.Equal(inLayout.Gate.ByteLength + inLayout.Up.ByteLength + inLayout.Down.ByteLength, runtime.Catalog.PayloadBytes(key));
    }
}

using MoeSpeq.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// A phimoe self-draft (normed-with-bias FFN input, LongRoPE, output bias all shared with the target): greedy decoding
/// with it gives exactly the plain greedy ids, resident and with the target's experts on disk.
/// </summary>
public sealed class PhiMoeSpeculativeTests
{
    static string PhiMoe => TestPaths.Golden("phimoe.gguf");

    [Fact]
    public void SpeculativeGreedyEqualsPlainGreedy() =>
        SpeculativeGreedyTests.AssertAllEqual(PhiMoe, new OffloadOptions(), "q4_0", "1", "3", "8", "auto");

    [Fact]
    public void OffloadedTargetWithADiskTierToo()
    {
        var offload = new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("25%"), Policy = "lru", Predictor = "gate-lookahead:1", IoThreads = 2 };
        SpeculativeGreedyTests.AssertAllEqual(PhiMoe, offload, "q4_k", "2", "auto");
    }
}

using MoeSpeq.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// Self-draft speculation on the deepseek2 architecture (MLA, group-limited routing, shared experts, a dense first
/// layer) gives exactly the plain greedy ids, resident and with its experts on disk.
/// </summary>
public sealed class DeepSeek2SpeculativeGreedyTests
{
    [Theory]
    [InlineData("deepseek2-lite.gguf")]
    [InlineData("deepseek3.gguf")]
    public void EveryDepthAndTheGovernorReproducePlainGreedy(string file) =>
        SpeculativeGreedyTests.AssertAllEqual(TestPaths.Golden(file), new OffloadOptions(), "q4_0", "1", "3", "auto");

    [Fact]
    public void OffloadedToDiskToo()
    {
        var offload = new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("25%"), Policy = "lookahead", Predictor = "gate-lookahead:1", IoThreads = 2 };
        SpeculativeGreedyTests.AssertAllEqual(TestPaths.Golden("deepseek3.gguf"), offload, "q4_0", "2", "auto");
    }
}

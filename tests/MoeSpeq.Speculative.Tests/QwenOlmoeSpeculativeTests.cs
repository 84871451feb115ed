using MoeSpeq.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// Self-draft speculation on the <c>qwen2moe</c>, <c>qwen3moe</c> and <c>olmoe</c> golden models reproduces plain greedy
/// decoding, resident and with a quarter of the experts cached over the disk tier.
/// </summary>
public sealed class QwenOlmoeSpeculativeTests
{
    public static TheoryData<string> Models => new("qwen2moe.gguf", "qwen3moe.gguf", "olmoe.gguf");

    static DraftExpertsSource Q4_0 => new DraftExpertsSource.AtLoad(DraftExperts.Types["q4_0"]);

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryDepthAndTheGovernorReproducePlainGreedy(string file) =>
        SpeculativeGreedyTests.AssertAllEqual(TestPaths.Golden(file), new OffloadOptions(), Q4_0, "1", "3", "8", "auto");

    [Theory]
    [MemberData(nameof(Models))]
    public void OffloadedToDiskTooReproducesPlainGreedy(string file)
    {
        var offload = new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("25%"), Policy = "lookahead", Predictor = "gate-lookahead:1", IoThreads = 2 };
        SpeculativeGreedyTests.AssertAllEqual(TestPaths.Golden(file), offload, Q4_0, "2", "auto");
    }
}

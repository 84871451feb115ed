using MoeSpeq.Experts.Replay;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests.Tracing;

public sealed class RoutingReplayTests
{
    static readonly string Model = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");

    static ExpertTrace Source() =>
        TraceRecording.Trace(TraceRecording.Record(Model, new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("100%") }, decode: 24, sequences: 2));

    [Fact]
    public void ReplayOntoTheSameShapeReproducesTheRecordedChoice()
    {
        var source = Source();
        var s = source.Shape;
        var replay = new RoutingReplay(source, s.Layers, s.MoeLayers, s.Experts, s.K);
        var ids = new int[s.K];
        var weights = new float[s.K];
        int same = 0, rows = 0;
        for (int t = 0; t < source.TokenCount; t++)
            for (int m = 0; m < s.MoeLayerCount; m++, rows++)
            {
                replay.Choose(t, m, ids, weights);
                if (ids.Order().SequenceEqual(source.Ids(t, m).ToArray().Order())) same++;
                Assert.Equal(1f, weights.Sum(), 1e-5f);
            }
        Assert.Equal(rows, same);
    }

    [Theory]
    [InlineData(24, 8, 2)]    // Mixtral: fewer, larger experts
    [InlineData(10, 128, 8)]  // Qwen3-MoE: more experts than the source, more used
    public void ReplayOntoALargerModelGivesValidDeterministicRouting(int layers, int experts, int k)
    {
        var source = Source();
        int[] moe = [.. Enumerable.Range(0, layers)];
        var a = new RoutingReplay(source, layers, moe, experts, k);
        var b = new RoutingReplay(source, layers, moe, experts, k);
        var ids = new int[k];
        var again = new int[k];
        var weights = new float[k];
        var used = new HashSet<int>();
        for (int t = 0; t < 2 * source.TokenCount; t++)
            for (int m = 0; m < layers; m++)
            {
                a.Choose(t, m, ids, weights);
                b.Choose(t, m, again, weights);
                Assert.Equal(ids, again);
                Assert.Equal(k, ids.Distinct().Count());
                Assert.All(ids, e => Assert.InRange(e, 0, experts - 1));
                Assert.Equal(1f, weights.Sum(), 1e-5f);
                Assert.All(weights, w => Assert.True(w > 0));
                if (m == 0) foreach (int e in ids) used.Add(e);
            }
        Assert.True(used.Count > k, "replayed routing must spread over the experts");
        // Look-ahead exists within a block of the source's layers, never across one.
        var probs = new float[experts];
        int block = source.Shape.MoeLayerCount;
        Assert.True(a.Lookahead(0, 0, 1, probs));
        Assert.Equal(1f, probs.Sum(), 1e-4f);
        Assert.False(a.Lookahead(0, block - 1, 1, probs));
    }

    [Fact]
    public void AModelRunsOnReplayedRoutingAndItsTraceHoldsTheReplayedChoices()
    {
        string dir = Directory.CreateTempSubdirectory("moespeq-replay-").FullName;
        try
        {
            string path = Path.Combine(dir, "source.trace");
            Source().Save(path);
            var runtime = TraceRecording.Record(Model,
                new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("50%"), Predictor = "gate-lookahead:1:1", RoutingReplay = path }, decode: 8);
            var replayed = TraceRecording.Trace(runtime);
            Assert.False(replayed.Shape.HasProbabilities);
            var replay = runtime.Replay!;
            var ids = new int[replayed.Shape.K];
            var weights = new float[replayed.Shape.K];
            for (int t = 0; t < replayed.TokenCount; t++)
                for (int m = 0; m < replayed.Shape.MoeLayerCount; m++)
                {
                    replay.Choose(t, m, ids, weights);
                    Assert.Equal(ids, replayed.Ids(t, m).ToArray());
                }
            var stats = runtime.Stats.Snapshot();
            Assert.True(stats.Predicted > 0, "the replayed look-ahead must predict");
            Assert.Contains("replayed", runtime.Summary);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AReplayOfATraceWithoutProbabilitiesIsAClearError()
    {
        var shape = new TraceShape("toy", 1, [0], 4, 1, false, 0, 100);
        Assert.Throws<ArgumentException>(() => new RoutingReplay(new ExpertTrace(shape), 4, [0, 1, 2, 3], 8, 2));
    }
}

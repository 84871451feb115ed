using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// The deepseek2 architecture routes inside the model and hands only (hidden, weights, ids) to the executor, with
/// dense leading layers and resident shared experts beside it: offloading its routed experts must leave every logit
/// of prefill and decode bit for bit equal to the resident run.
/// </summary>
public sealed class DeepSeek2OffloadedLogitsTests
{
    public static TheoryData<string, string, string, string, string> Settings()
    {
        var data = new TheoryData<string, string, string, string, string>();
        foreach (var model in new[] { "deepseek2-lite.gguf", "deepseek3.gguf" })
        {
            data.Add(model, "disk", "lookahead", "gate-lookahead:1", "25%");
            data.Add(model, "host", "lru", "gate-lookahead:2:1", "25%");
            data.Add(model, "disk", "lfu", "history:1", "50%");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void OffloadedExpertsGiveTheResidentLogits(string file, string tier, string policy, string predictor, string budget)
    {
        var path = TestPaths.Golden(file);
        var options = new OffloadOptions
        {
            SlowTier = tier, Budget = ExpertBudget.Parse(budget), Policy = policy, Predictor = predictor, IoThreads = 2, LinkBandwidthGBps = 4,
        };
        var runtime = new ExpertRuntime(options, (catalog, p) => SlowTiers.Open(options, catalog, p));
        Assert.Equal(OffloadedLogitsTests.Run(path, new ModelOptions { Threads = 2 }),
            OffloadedLogitsTests.Run(path, runtime.Attach(new ModelOptions { Threads = 2 })));

        var s = runtime.Stats.Snapshot();
        Assert.True(s.Misses > 0, "a cache below 100% must miss");
        Assert.Equal(s.Accesses, s.Hits + s.LateHits + s.Misses);
        // Layer 0 is dense: it never reaches the expert cache.
        Assert.Equal(0, s.Layers[0].Actual);
        if (predictor != "none") Assert.True(s.Predicted > 0, "the predictor must have predicted");
    }
}

using MoeSpeq.Experts.Analysis;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests.Tracing;

public sealed class CacheSimulatorTests
{
    static readonly string Model = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");

    /// <summary>
    /// The replay drives the policies exactly as the live cache does: without prefetch, a run's hits are the hits the
    /// replay of its own trace counts, for every policy and across sequences (the activation policy resets per sequence).
    /// </summary>
    [Theory]
    [InlineData("lru", "25%")]
    [InlineData("lfu", "25%")]
    [InlineData("activation", "25%")]
    [InlineData("lru", "50%")]
    [InlineData("activation", "75%")]
    [InlineData("lookahead", "25%")]
    [InlineData("lookahead", "50%")]
    public void TheReplayOfARunsTraceCountsTheRunsHits(string policy, string budget)
    {
        var runtime = TraceRecording.Record(Model, new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse(budget), Policy = policy, Predictor = "none" },
            decode: 10, sequences: 3);
        var live = runtime.Stats.Snapshot();
        var trace = TraceRecording.Trace(runtime);
        var replay = CacheSimulator.Run(new TraceAccesses(trace), runtime.Cache!.SlotCount, Eviction.EvictionPolicies.Create(policy, trace.Shape.Layers, trace.Shape.Experts, trace.Shape.K));
        Assert.Equal(live.Accesses, replay.Accesses);
        Assert.Equal(live.Hits, replay.Hits);
    }

    [Fact]
    public void BeladyBoundsEveryPolicyAndAFullCacheMissesOnlyOnFirstUse()
    {
        var trace = TraceRecording.Trace(TraceRecording.Record(Model, new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("100%") }, decode: 20, sequences: 2));
        var accesses = new TraceAccesses(trace);
        var rows = TraceAnalysis.HitRates(accesses, [ExpertBudget.Parse("25%"), ExpertBudget.Parse("50%"), ExpertBudget.Parse("100%")], [.. Eviction.EvictionPolicies.Names]);
        foreach (var row in rows)
        {
            var belady = row.Of(CacheSimulator.Belady);
            Assert.All(row.Results, r => Assert.True(r.Hits <= belady.Hits, $"{r.Policy} beat Belady at {row.Budget}"));
        }
        int distinct = accesses.Keys.Distinct().Count();
        Assert.All(rows[^1].Results, r => Assert.Equal(r.Accesses - distinct, r.Hits));
        // More memory never hurts the optimum.
        Assert.True(rows[0].Of(CacheSimulator.Belady).Hits <= rows[1].Of(CacheSimulator.Belady).Hits);
    }

    [Fact]
    public void BeladyEvictsTheExpertUsedFurthestAhead()
    {
        // One layer, four experts, top-1, two slots, uses A B C A B A B: when C arrives MIN evicts B (used again after A),
        // then C (never used again) for B: misses A, B, C, B. LRU evicts A for C, B for A, C for B: hits only the last A, B.
        var shape = new MoeSpeq.Experts.Tracing.TraceShape("toy", 1, [0], 4, 1, false, 0, 100);
        var trace = new MoeSpeq.Experts.Tracing.ExpertTrace(shape);
        int[] sequence = [0, 1, 2, 0, 1, 0, 1];
        foreach (int e in sequence)
        {
            trace.BeginStep(1, trace.TokenCount == 0);
            trace.WritableRow(trace.TokenCount - 1, 0).Ids[0] = e;
            trace.WritableRow(trace.TokenCount - 1, 0).Weights[0] = 1;
            trace.EndStep(0.01);
        }
        var accesses = new TraceAccesses(trace);
        var belady = CacheSimulator.Run(accesses, 2, policy: null);
        Assert.Equal(3, belady.Hits);
        Assert.Equal(new long[] { 1, 1, 1, 0, 1, 0, 0 }, belady.MissesPerStep);
        Assert.Equal(2, CacheSimulator.Run(accesses, 2, new Eviction.LruPolicy(1, 4)).Hits);

        // Every step is one token, so every step is a decode step: 4 misses × 100 bytes over a 100 B/s link.
        var oracle = TraceAnalysis.Oracle(trace, belady, linkBytesPerSecond: 100);
        Assert.Equal(7, oracle.DecodeTokens);
        Assert.Equal(400, oracle.BytesRead);
        Assert.Equal(4.0, oracle.LinkSeconds, 9);
        Assert.Equal(0.07, oracle.ComputeSeconds, 9);
        Assert.Equal("link", oracle.Limit);
        Assert.Equal(7 / 4.0, oracle.TokensPerSecond, 9);
    }
}

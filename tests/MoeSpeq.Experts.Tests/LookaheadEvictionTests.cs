using MoeSpeq.Experts.Eviction;
using MoeSpeq.Model.Experts;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>The next-use estimate and how the cache uses it: expected experts are kept, and a guess never displaces a nearer need.</summary>
public sealed class LookaheadEvictionTests
{
    const int Layers = 4, Experts = 4, K = 1;

    /// <summary>Fills a cache with one expert per layer, as a decode step over <paramref name="layers"/> would, and releases them.</summary>
    static ExpertCache Filled(int slots, IEvictionPolicy policy, params ExpertKey[] keys)
    {
        var cache = new ExpertCache(slots, 4096, Layers, Experts, policy, new ExpertStats(), K);
        foreach (var key in keys)
        {
            cache.BeginLayer(key.Layer);
            int slot = cache.Acquire(key, out _);
            cache.Complete(slot, null, prefetch: false);
            cache.Release(slot);
        }
        return cache;
    }

    [Fact]
    public void TheLayerThatComesNextIsNearerThanTheOneJustRun()
    {
        var estimate = new NextUseEstimate(Layers, Experts, K);
        for (int layer = 0; layer < Layers; layer++) estimate.OnLayerStart(layer);
        estimate.OnLayerStart(1);
        // Same rate everywhere: only the cycle differs. Layer 2 runs next, layer 1 (running) a full cycle later.
        Assert.True(estimate.Distance(new ExpertKey(2, 0)) < estimate.Distance(new ExpertKey(3, 0)));
        Assert.True(estimate.Distance(new ExpertKey(3, 0)) < estimate.Distance(new ExpertKey(0, 0)));
        Assert.True(estimate.Distance(new ExpertKey(0, 0)) < estimate.Distance(new ExpertKey(1, 0)));
    }

    [Fact]
    public void AFrequentlyUsedExpertIsNearerThanARareOneAndAConfidentGuessNearerStill()
    {
        var estimate = new NextUseEstimate(Layers, Experts, K);
        for (int step = 0; step < 20; step++)
        {
            estimate.OnLayerStart(0);
            estimate.OnAccess(new ExpertKey(0, 1));
        }
        var hot = new ExpertKey(0, 1);
        var cold = new ExpertKey(0, 2);
        Assert.True(estimate.Distance(hot) < estimate.Distance(cold));
        estimate.OnPredicted(cold, 1f);
        Assert.Equal(Layers, estimate.Distance(cold), 6); // certain at its layer's next visit, a cycle from layer 0
        estimate.OnLayerStart(0);
        Assert.True(estimate.Distance(cold) > estimate.Distance(hot)); // the visit came: the guess is spent
    }

    [Fact]
    public void ADemandMissEvictsAnExpectedExpertOnlyWhenNothingElseCanGo()
    {
        // LRU would evict (1, 0), the oldest; it is expected, so (2, 0) goes instead.
        using var cache = Filled(2, new LruPolicy(Layers, Experts), new ExpertKey(1, 0), new ExpertKey(2, 0));
        cache.BeginLayer(0);
        cache.Expect(new ExpertKey(1, 0), 0.9f);
        int slot = cache.Acquire(new ExpertKey(0, 3), out _);
        Assert.True(cache.Contains(new ExpertKey(1, 0)));
        Assert.False(cache.Contains(new ExpertKey(2, 0)));
        cache.Complete(slot, null, prefetch: false);
        cache.Release(slot);

        // With every unpinned slot expected, a demand load still gets one.
        cache.Expect(new ExpertKey(0, 3), 0.9f);
        slot = cache.Acquire(new ExpertKey(3, 3), out var found);
        Assert.Equal(ExpertCache.Lookup.Reserved, found);
        cache.Complete(slot, null, prefetch: false);
        cache.Release(slot);
    }

    [Fact]
    public void APrefetchTakesNoExpectedSlotAndNoSlotOfANearerNeed()
    {
        // Layers 1 and 3 cached; the pass is at layer 0, so layer 1 is needed next.
        using var cache = Filled(2, new LruPolicy(Layers, Experts), new ExpertKey(1, 0), new ExpertKey(3, 0));
        cache.BeginLayer(0);
        cache.Expect(new ExpertKey(1, 0), 0.9f);

        // A weak guess for layer 2 is expected later than layer 3's cached expert would be on its rate: refused.
        cache.Expect(new ExpertKey(2, 1), 0.01f);
        Assert.Equal(-1, cache.ReserveForPrefetch(new ExpertKey(2, 1)));
        // A confident guess for layer 2 takes layer 3's slot, never the expected layer-1 expert's.
        cache.Expect(new ExpertKey(2, 2), 0.95f);
        int slot = cache.ReserveForPrefetch(new ExpertKey(2, 2));
        Assert.True(slot >= 0);
        cache.Complete(slot, null, prefetch: true);
        Assert.True(cache.Contains(new ExpertKey(1, 0)));
        Assert.False(cache.Contains(new ExpertKey(3, 0)));

        // Now both slots hold expected experts: no prefetch may take either.
        cache.Expect(new ExpertKey(3, 1), 1f);
        Assert.Equal(-1, cache.ReserveForPrefetch(new ExpertKey(3, 1)));
    }

    [Fact]
    public void TheLookaheadPolicyEvictsTheExpertExpectedFurthestAway()
    {
        // Pass at layer 0: layer 1 comes next, layer 3 last. LRU would evict (1, 0), the oldest.
        using var cache = Filled(2, new LookaheadPolicy(Layers, Experts, K), new ExpertKey(1, 0), new ExpertKey(3, 0));
        cache.BeginLayer(0);
        int slot = cache.Acquire(new ExpertKey(0, 2), out _);
        Assert.True(cache.Contains(new ExpertKey(1, 0)));
        Assert.False(cache.Contains(new ExpertKey(3, 0)));
        cache.Complete(slot, null, prefetch: false);
        cache.Release(slot);
    }
}

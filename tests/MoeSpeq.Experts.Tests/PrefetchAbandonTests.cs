using MoeSpeq.Experts.Eviction;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// A prefetch whose layer routed without it stops reading: its slot empties and the rest of its bytes are never
/// read. A prefetch the layer did pin is always read to the end.
/// </summary>
public sealed class PrefetchAbandonTests
{
    [Fact]
    public void AGuessNoPassPinnedIsAbandonedAndItsSlotFreed()
    {
        using var cache = new ExpertCache(2, 4096, 2, 4, EvictionPolicies.Create("lru", 2, 4), new ExpertStats());
        var guess = new ExpertKey(1, 2);
        int slot = cache.ReserveForPrefetch(guess);
        Assert.True(slot >= 0);

        Assert.True(cache.TryAbandonPrefetch(slot));
        Assert.False(cache.Contains(guess));
        Assert.Equal(0, cache.LoadingCount);
        Assert.Equal(0, cache.PinnedCount);
        // The expert is read afresh when it is needed after all, into whichever slot is free.
        int again = cache.Acquire(guess, out var found);
        Assert.Equal(ExpertCache.Lookup.Reserved, found);
        cache.Complete(again, null, prefetch: false);
        cache.Release(again);
        Assert.True(cache.Contains(guess));
    }

    [Fact]
    public void AGuessAPassIsWaitingForIsReadToTheEnd()
    {
        using var cache = new ExpertCache(2, 4096, 2, 4, EvictionPolicies.Create("lru", 2, 4), new ExpertStats());
        var guess = new ExpertKey(1, 2);
        int slot = cache.ReserveForPrefetch(guess);
        Assert.Equal(slot, cache.Acquire(guess, out var found));
        Assert.Equal(ExpertCache.Lookup.Loading, found);

        Assert.False(cache.TryAbandonPrefetch(slot));
        cache.Complete(slot, null, prefetch: true);
        cache.WaitReady(slot, TestContext.Current.CancellationToken);
        cache.Release(slot);
        Assert.True(cache.Contains(guess));
        Assert.False(cache.TryAbandonPrefetch(slot)); // ready: nothing left to abandon
    }

    /// <summary>
    /// On a slow device, with three extra guesses a layer and prefetches read in small pieces, guesses are still
    /// pending or being read when their layer routes without them: they are abandoned, the logits are the resident
    /// ones, and no slot stays loading or pinned.
    /// </summary>
    [Fact]
    public void WrongGuessesInFlightAreAbandonedAndTheLogitsAreUnchanged()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var options = new OffloadOptions
        {
            SlowTier = "test", Budget = ExpertBudget.Parse("75%"), Policy = "lru", Predictor = "gate-lookahead:1:3",
            IoThreads = 3, PrefetchPieceBytes = 2048,
        };
        var runtime = new ExpertRuntime(options, (_, p) => new FileReadTier(p) { ReadDelay = TimeSpan.FromMilliseconds(1) });
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));

        Assert.Equal(OffloadedLogitsTests.Run(path, new ModelOptions { Threads = 2 }), OffloadedLogitsTests.Run(model));
        var s = runtime.Stats.Snapshot();
        Assert.True(s.PrefetchAbandoned > 0, $"no wrong guess was abandoned: {s}");
        Assert.True(SpinWait.SpinUntil(() => runtime.Cache!.LoadingCount == 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(0, runtime.Cache!.PinnedCount);
    }
}

using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// Faults injected while a generation runs: a cancelled generation stops waiting, and drops its reads and its pins;
/// a model file cut short fails the evaluation that needs the missing bytes. Either way the same model instance
/// then serves the resident logits again.
/// </summary>
public sealed class CancellationTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-faults-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task CancellingAGenerationWhileItWaitsForAnExpertDropsItsReadsAndPins()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        FileReadTier? tier = null;
        var runtime = new ExpertRuntime(
            new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:2:1", IoThreads = 2 },
            (_, p) => tier = new FileReadTier(p));
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));
        var generator = new Generator(model, Tokenizer.FromGguf(model.File.Header), 64);
        using var cancel = new CancellationTokenSource();

        // The first streamed text means the prompt is in and decoding has begun: from then on the device stops answering.
        var generation = Task.Run(() => generator.Generate("The quick brown fox", 32, SamplerOptions.Greedy, _ => tier!.Hold(), cancel.Token),
            TestContext.Current.CancellationToken);
        Assert.True(tier!.Held.Wait(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken), "decoding never reached a held read");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generation);

        var cache = runtime.Cache!;
        Assert.Equal(0, cache.PinnedCount);
        Assert.Equal(0, cache.LoadingCount);
        Assert.Equal(0, runtime.Orchestrator!.QueuedCount);
        Assert.True(runtime.Stats.Snapshot().PrefetchIssued > 0, "the predictor must have queued prefetches for cancellation to drop");

        tier.Open();
        Assert.Equal(OffloadedLogitsTests.Run(path, new ModelOptions { Threads = 2 }), OffloadedLogitsTests.Run(model));
    }

    [Fact]
    public void ADemandLoadThatIsCancelledEmptiesItsSlot()
    {
        var stats = new ExpertStats();
        using var cache = new ExpertCache(2, 4096, 1, 4, EvictionPolicies.Create("lru", 1, 4), stats);
        var key = new ExpertKey(0, 3);
        int slot = cache.Acquire(key, out var found);
        Assert.Equal(ExpertCache.Lookup.Reserved, found);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        cache.Complete(slot, new OperationCanceledException(cancelled.Token), prefetch: false);
        Assert.Throws<OperationCanceledException>(() => cache.WaitReady(slot, CancellationToken.None));
        cache.Release(slot);

        Assert.Equal(0, cache.LoadingCount);
        Assert.Equal(0, cache.PinnedCount);
        Assert.False(cache.Contains(key));
        cache.Acquire(key, out found);
        Assert.Equal(ExpertCache.Lookup.Reserved, found); // read again, not waited on forever
    }

    [Fact]
    public void AModelFileTruncatedWhileRunningFailsTheEvaluationAndServesAgainOnceRestored()
    {
        var golden = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        string path = Path.Combine(_dir, "model.gguf");
        File.Copy(golden, path);
        var options = new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("25%") };
        var runtime = new ExpertRuntime(options, (catalog, p) => SlowTiers.Open(options, catalog, p));
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));

        // Cut the file where the first expert begins: every expert is gone, and nothing else is read after the load.
        var catalog = runtime.Catalog!;
        int firstMoe = Enumerable.Range(0, catalog.Layers).First(catalog.IsMoeLayer);
        long cut = catalog.ReadsOf(new ExpertKey(firstMoe, 0))[0].FileOffset;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write)) file.SetLength(cut);

        var e = Assert.Throws<IOException>(() => OffloadedLogitsTests.Run(model));
        Assert.Contains("truncated", e.Message);
        // The reads that evaluation had queued fail too; let them end before the bytes come back.
        Assert.True(SpinWait.SpinUntil(() => runtime.Cache!.LoadingCount == 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(0, runtime.Cache!.PinnedCount);

        using (var source = File.OpenRead(golden))
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            source.Position = file.Position = cut;
            source.CopyTo(file);
        }
        Assert.Equal(OffloadedLogitsTests.Run(golden, new ModelOptions { Threads = 2 }), OffloadedLogitsTests.Run(model));
    }
}

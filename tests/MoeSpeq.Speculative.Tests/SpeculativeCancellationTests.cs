using MoeSpeq.Experts;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.Tensors;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// Cancelling a speculative generation, in a draft or a verification waiting on a slow link, leaves nothing behind:
/// no pinned slot, no lookahead to be scored against, and the same model then decodes exactly as before.
/// </summary>
public sealed class SpeculativeCancellationTests
{
    [Fact]
    public async Task ACancelledSpeculativeGenerationLeavesTheModelAsPlainDecodingNeedsIt()
    {
        // A slow link, so that the cancellation lands while a pass waits for experts.
        var offload = new OffloadOptions { SlowTier = "host", Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1", IoThreads = 2, LinkBandwidthGBps = 0.05 };
        var runtime = new ExpertRuntime(offload, (catalog, p) => SlowTiers.Open(offload, catalog, p));
        var builder = new SelfDraftBuilder(GgmlType.Q4_0, 4, runtime);
        using var model = ModelLoader.Load(TestPaths.DemoModel, builder.Attach(runtime.Attach(new ModelOptions { Threads = 2, MaxBatch = 16 })));
        using var draft = builder.Create(model);
        var tokenizer = Tokenizer.FromGguf(model.File.Header);
        int[] prompt = [.. tokenizer.Encode("Returns a value that indicates", addSpecial: true, parseSpecial: true)];
        var speculative = new Generator(model, tokenizer, 256, new SpeculativeDecoding(draft, new SpeculationOptions { Depth = 4 }, runtime));

        using var cancel = new CancellationTokenSource();
        int emitted = 0;
        var generation = Task.Run(() => speculative.GenerateTokens(prompt, 200, SamplerOptions.Greedy, _ =>
        {
            // Cancel from outside the decode loop, a little after decoding has begun, so that it hits a pass mid-way.
            if (Interlocked.Increment(ref emitted) == 3) cancel.CancelAfter(30);
        }, cancel.Token), TestContext.Current.CancellationToken);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generation);
        Assert.InRange(emitted, 3, 199);

        var cache = runtime.Cache!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((cache.PinnedCount > 0 || cache.LoadingCount > 0) && DateTime.UtcNow < deadline) Thread.Sleep(5);
        Assert.Equal(0, cache.PinnedCount);
        Assert.Equal(0, draft.Lookahead.Depth);

        var plain = new List<int>();
        new Generator(model, tokenizer, 256).GenerateTokens(prompt, 24, SamplerOptions.Greedy, plain.Add, TestContext.Current.CancellationToken);
        var again = new List<int>();
        speculative.GenerateTokens(prompt, 24, SamplerOptions.Greedy, again.Add, TestContext.Current.CancellationToken);
        Assert.Equal(plain, again);
    }
}

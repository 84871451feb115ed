using MoeSpeq.Experts;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// A recorded self-draft run (<see cref="SpeculationTrace"/>): the tokens it kept were routed exactly as plain
/// decoding routes them, the file round-trips and rejects damage with a clear error, and replayed on another model
/// its acceptance and draft routing are the recorded ones.
/// </summary>
public sealed class SpeculationTraceTests
{
    static readonly int[] Prompt = [1, 450, 4996, 17354, 1701, 29889, 338, 263];
    const int Tokens = 48;

    sealed record Recording(SpeculationTrace Trace, ExpertTrace Plain, int[] PlainIds, int[] SpeculativeIds);

    /// <summary>A plain greedy run and a speculative one at depth 4 on the demo model, each traced.</summary>
    static Recording Record()
    {
        var plain = Generate(TestPaths.DemoModel, null, out var plainTrace, out _, out _);
        var speculative = Generate(TestPaths.DemoModel, "4", out _, out var run, out _);
        return new Recording(run!, plainTrace!, plain, speculative);
    }

    static int[] Generate(string path, string? speculate, out ExpertTrace? trace, out SpeculationTrace? run, out SpeculationStats.Values stats, SpeculationTrace? replay = null)
    {
        var offload = new OffloadOptions { RecordTrace = replay is null };
        var runtime = new ExpertRuntime(offload, (catalog, p) => SlowTiers.Open(offload, catalog, p));
        var builder = speculate is null ? null : new SelfDraftBuilder(DraftExperts.Types["q4_0"], 8, runtime) { Replay = replay };
        var options = runtime.Attach(new ModelOptions { Threads = 2, MaxBatch = 16 });
        using var model = ModelLoader.Load(path, builder?.Attach(options) ?? options);
        using var draft = builder?.Create(model);
        var decoding = draft is null ? null : new SpeculativeDecoding(draft, SpeculationOptions.Parse(speculate!, 8), runtime) { Hook = builder!.Hook };
        var generator = new Generator(model, Tokenizer.FromGguf(model.File.Header), 256, decoding);
        var ids = new List<int>();
        int vocab = model.Config.VocabSize;
        generator.GenerateTokens([.. Prompt.Select(t => t % vocab)], Tokens, SamplerOptions.Greedy, ids.Add);
        trace = runtime.FinishTrace();
        run = builder?.Hook is SpeculationRecorder recorder ? recorder.Finish(trace!) : null;
        stats = runtime.Stats.Speculation.Snapshot();
        return [.. ids];
    }

    [Fact]
    public void TheKeptTokensAreRoutedExactlyAsPlainDecodingRoutesThem()
    {
        var r = Record();
        Assert.Equal(r.PlainIds, r.SpeculativeIds);
        var kept = r.Trace.KeptRouting();
        // Plain decoding evaluates every kept token but the last one generated; the speculative run may verify past it.
        int tokens = r.Plain.TokenCount;
        Assert.True(kept.TokenCount >= tokens, $"the kept routing has {kept.TokenCount} tokens, plain decoding {tokens}");
        Assert.True(r.Trace.Cycles.Count > 0 && r.Trace.Cycles.Any(c => c.Accepted > 0), "no draft was accepted: the recording proves nothing");
        for (int t = 0; t < tokens; t++)
            for (int m = 0; m < kept.Shape.MoeLayerCount; m++)
            {
                Assert.True(r.Plain.Ids(t, m).SequenceEqual(kept.Ids(t, m)), $"token {t}, MoE layer {m}: experts differ");
                Assert.True(r.Plain.Weights(t, m).SequenceEqual(kept.Weights(t, m)), $"token {t}, MoE layer {m}: weights differ");
                Assert.True(r.Plain.Probabilities(t, m).SequenceEqual(kept.Probabilities(t, m)), $"token {t}, MoE layer {m}: router distribution differs");
            }
        Assert.Equal(r.Trace.Draft.TokenCount, r.Trace.Cycles.Sum(c => c.Depth));
    }

    [Fact]
    public void TheFileRoundTripsAndDamageIsAClearError()
    {
        var r = Record();
        string path = Path.Combine(Path.GetTempPath(), $"moespeq-spec-{Guid.NewGuid():N}.trace");
        try
        {
            r.Trace.Save(path);
            Assert.True(SpeculationTrace.IsSpeculationTrace(path));
            var loaded = SpeculationTrace.Load(path);
            Assert.Equal(r.Trace.Cycles, loaded.Cycles);
            Assert.Equal(r.Trace.PromptTokens, loaded.PromptTokens);
            Assert.Equal(r.Trace.Target.TokenCount, loaded.Target.TokenCount);
            Assert.True(r.Trace.Draft.Ids(r.Trace.Draft.TokenCount - 1, 0).SequenceEqual(loaded.Draft.Ids(loaded.Draft.TokenCount - 1, 0)));
            // A plain routing replay of the file is the kept routing.
            Assert.Equal(r.Trace.KeptRouting().TokenCount, SpeculationTrace.LoadRouting(path).TokenCount);

            var bytes = File.ReadAllBytes(path);
            var random = new Random(7);
            for (int i = 0; i < 300; i++)
            {
                var damaged = (byte[])bytes.Clone();
                if (i % 3 == 0) damaged = damaged[..random.Next(damaged.Length)];
                else for (int j = 0; j < 1 + random.Next(4); j++) damaged[random.Next(Math.Min(damaged.Length, 4096))] = (byte)random.Next(256);
                try
                {
                    SpeculationTrace.Load(new MemoryStream(damaged));
                }
                catch (InvalidDataException e)
                {
                    Assert.False(string.IsNullOrWhiteSpace(e.Message));
                }
            }
            File.WriteAllBytes(path, bytes[..(bytes.Length - 3)]);
            var error = Assert.Throws<InvalidDataException>(() => SpeculationTrace.Load(path));
            Assert.Contains(path, error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ReplayedOnAnotherModelTheRecordedAcceptanceAndDraftRoutingStand()
    {
        var r = Record();
        // The same shape, so the replay maps experts one to one and the recorded match can be checked exactly.
        Generate(TestPaths.DemoModel, "2", out _, out _, out var replayed, r.Trace);
        var full = r.Trace.Cycles.Where(c => c.Depth == r.Trace.MaxDepth).ToArray();
        Assert.True(replayed.Cycles > 0);
        // Replay cycle c replays recorded full-depth cycle c, accepting min(2, what it accepted).
        long expected = 0;
        for (int c = 0; c < replayed.Cycles; c++) expected += Math.Min(2, full[c % full.Length].Accepted);
        Assert.Equal(expected, replayed.Accepted);
        // The random model's own draft would match its target almost perfectly (same routers, same inputs); the
        // replayed one matches as the recorded draft matched.
        double recordedMatch = RecordedMatch(r.Trace, full, (int)replayed.Cycles, depth: 2);
        Assert.Equal(recordedMatch, replayed.ExpertMatch, 6);
    }

    /// <summary>The share of the target's experts the draft also chose, over the first replayed cycles' rows 0..depth − 1.</summary>
    static double RecordedMatch(SpeculationTrace trace, SpeculationCycle[] full, int cycles, int depth)
    {
        long hits = 0, slots = 0;
        int k = trace.Target.Shape.K;
        for (int c = 0; c < cycles; c++)
        {
            var cycle = full[c % full.Length];
            for (int d = 0; d < depth; d++)
                for (int m = 0; m < trace.Target.Shape.MoeLayerCount; m++)
                {
                    var target = trace.Target.Ids(cycle.TargetFirstToken + d, m);
                    var draft = trace.Draft.Ids(cycle.DraftFirstToken + d, m);
                    foreach (int e in target) if (draft.Contains(e)) hits++;
                    slots += k;
                }
        }
        return (double)hits / slots;
    }
}

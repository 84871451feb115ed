using System.Runtime.InteropServices;
using MoeSpeq.Experts;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.Model.Tools;
using MoeSpeq.Tensors;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// A separate draft model end to end: greedy speculation equals plain decoding, the draft's KV bookkeeping through
/// rejections, learning the target's routing while generating, and the vocabulary check. Two pairs: the trained
/// fixture (MoE target distilled into a dense draft) and the random-weight golden pair (few drafts accepted).
/// </summary>
public sealed class ModelDraftTests
{
    const string Text = "The following options are supported by the command line interface. Returns a value that indicates whether the specified object is equal to the current instance.";
    const int Context = 256;
    static readonly ModelOptions TargetOptions = new() { Threads = 2, MaxBatch = 16 };
    static readonly ModelOptions DraftOptions = new() { Threads = 2, MaxBatch = 8 };

    public static TheoryData<string> Pairs => ["fixture", "golden"];

    static (string Target, string Draft) PathsOf(string pair) => pair == "fixture"
        ? (TestPaths.Shared("fixtures", "moe-target-f16.gguf"), TestPaths.Shared("fixtures", "draft-dense-f32.gguf"))
        : (TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), TestPaths.Golden("llama-draft.gguf"));

    /// <summary>A target loaded with the routing observer, its tokenizer and a builder for drafts.</summary>
    sealed class Pair : IDisposable
    {
        public Pair(string pair, OffloadOptions? offload = null)
        {
            (TargetPath, DraftPath) = PathsOf(pair);
            var options = offload ?? new OffloadOptions();
            Runtime = new ExpertRuntime(options, (catalog, path) => SlowTiers.Open(options, catalog, path));
            Builder = new ModelDraftBuilder(8, Runtime);
            Target = ModelLoader.Load(TargetPath, Builder.Attach(Runtime.Attach(TargetOptions)));
            Tokenizer = Tokenizer.FromGguf(Target.File.Header);
            Prompt = [.. Tokenizer.Encode(Text, addSpecial: true)];
        }

        public string TargetPath { get; }
        public string DraftPath { get; }
        public ExpertRuntime Runtime { get; }
        public ModelDraftBuilder Builder { get; }
        public LanguageModel Target { get; }
        public Tokenizer Tokenizer { get; }
        public int[] Prompt { get; }

        public ModelDraft CreateDraft() => Builder.Create(Target, DraftPath, DraftOptions);

        public List<int> Generate(int n, ModelDraft? draft = null, int depth = 0)
        {
            var speculation = draft is null ? null : new SpeculativeDecoding(draft, new SpeculationOptions { Depth = depth }, Runtime);
            var output = new List<int>();
            new Generator(Target, Tokenizer, Context, speculation).GenerateTokens(Prompt, n, SamplerOptions.Greedy, output.Add, TestContext.Current.CancellationToken);
            return output;
        }

        public void Dispose() => Target.Dispose();
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void GreedySpeculationWithADraftModelEqualsPlainDecoding(string pair)
    {
        using var p = new Pair(pair);
        Assert.True(p.Prompt.Length > TargetOptions.MaxBatch, "the prompt should span several target batches");
        var plain = p.Generate(48);
        Assert.Equal(48, plain.Count);

        // One draft for every depth: each generation starts a new sequence it must catch up on.
        using var draft = p.CreateDraft();
        foreach (int k in new[] { 1, 3, 8 })
        {
            p.Runtime.Stats.Speculation.Reset();
            Assert.Equal(plain, p.Generate(48, draft, k));
            var s = p.Runtime.Stats.Speculation.Snapshot();
            TestContext.Current.TestOutputHelper?.WriteLine($"{pair}, k = {k}: {s}");
            Assert.True(s.Cycles > 0 && s.Cycles < 48, $"k = {k}: {s}");
            // The predictor learned the target's routing: the forecasts share experts with the verification's.
            Assert.True(s.ExpertMatch > 0 && s.LookaheadRecall > 0, $"k = {k}: {s}");
        }
        Assert.NotNull(draft.Lookahead);
        Assert.True(draft.Predictor!.TrackedTokens > 0);
    }

    [Fact]
    public void TheTrainedDraftIsAcceptedOftenAndForecastsTheTargetsExperts()
    {
        using var p = new Pair("fixture");
        using var draft = p.CreateDraft();
        p.Generate(64, draft, 4);
        var s = p.Runtime.Stats.Speculation.Snapshot();
        TestContext.Current.TestOutputHelper?.WriteLine(s.ToString());
        Assert.True(s.MeanAccepted > 1, s.ToString());
        // Token statistics do better than chance (k/E = 4/32 of the experts per layer).
        Assert.True(s.ExpertMatch > 0.25, s.ToString());
    }

    [Fact]
    public void WithOffloadedExpertsTheForecastsArePrefetchedAndOutputIsUnchanged()
    {
        var offload = new OffloadOptions { SlowTier = "host", Budget = ExpertBudget.Parse("25%"), IoThreads = 1 };
        using var p = new Pair("fixture", offload);
        var plain = p.Generate(32);
        var before = p.Runtime.Stats.Snapshot();
        using var draft = p.CreateDraft();
        Assert.Equal(plain, p.Generate(32, draft, 3));
        var after = p.Runtime.Stats.Snapshot();
        TestContext.Current.TestOutputHelper?.WriteLine($"{after}\n{p.Runtime.Stats.Speculation.Snapshot()}");
        // The plain run had no predictor; the speculative one's predictions came from the draft's forecasts.
        Assert.Equal(0, before.Predicted);
        Assert.True(after.Predicted > 0 && after.PredictedTrue > 0, after.ToString());
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void AfterRejectionsTheDraftPredictsAsAFreshDraftFedTheKeptSequence(string pair)
    {
        using var p = new Pair(pair);
        using var draft = p.CreateDraft();
        var generated = p.Generate(40, draft, 3);
        var s = p.Runtime.Stats.Speculation.Snapshot();
        Assert.True(s.Accepted < 3 * s.Cycles, $"the run should have rejected some drafts: {s}");

        List<int> sequence = [.. p.Prompt, .. generated];
        AssertSameAsFresh(p, draft, sequence);
    }

    [Fact]
    public void TheDraftKeepsItsPositionThroughCyclesWithRejections()
    {
        using var p = new Pair("fixture");
        using var draft = p.CreateDraft();
        int vocab = p.Target.Config.VocabSize;
        var state = p.Target.CreateState(Context);
        var logits = new float[vocab];
        List<int> sequence = [.. p.Prompt];

        // (drafts, kept): a partial rejection, a full rejection, all kept, partial again.
        foreach (var (k, kept) in new[] { (3, 1), (4, 0), (2, 2), (5, 3), (1, 0) })
        {
            state.Position = sequence.Count - 1;
            draft.Begin(state, sequence.ToArray());
            Assert.Equal(sequence.Count - 1, draft.Position);
            var drafts = new List<int>();
            int token = sequence[^1];
            for (int i = 0; i < k; i++)
            {
                draft.Next(token, logits);
                token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
                drafts.Add(token);
            }
            draft.End();
            sequence.AddRange(drafts.Take(kept));
            draft.Accepted(sequence.Count);
            Assert.Equal(Math.Min(sequence.Count, sequence.Count - kept - 1 + k), draft.Position);
            // The target's own token: where a draft was rejected, necessarily another one.
            sequence.Add(kept < k ? (drafts[kept] + 1) % vocab : drafts[^1]);
        }
        AssertSameAsFresh(p, draft, sequence);

        // A new sequence that shares only a prefix with what the draft holds.
        List<int> other = [.. sequence.Take(10), .. sequence.Skip(10).Take(20).Select(t => (t + 7) % vocab)];
        AssertSameAsFresh(p, draft, other);
    }

    [Fact]
    public void DraftCyclesAllocateNothing()
    {
        using var p = new Pair("fixture");
        using var draft = p.CreateDraft();
        int vocab = p.Target.Config.VocabSize;
        var state = p.Target.CreateState(Context);
        var logits = new float[5 * vocab];
        var sequence = new int[Context];
        p.Prompt.CopyTo(sequence);
        int length = p.Prompt.Length;
        p.Target.Evaluate(state, sequence.AsSpan(0, length), logits, allLogits: false);
        sequence[length++] = 100;

        // As the generator runs a cycle: draft 4, verify them in one target pass, keep 2 and a token of the target's.
        void Cycle()
        {
            int p0 = state.Position;
            draft.Begin(state, sequence.AsSpan(0, length));
            for (int i = 0; i < 4; i++)
            {
                draft.Next(sequence[length - 1 + i], logits.AsSpan(0, vocab));
                sequence[length + i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(0, vocab));
            }
            draft.End();
            p.Target.Evaluate(state, sequence.AsSpan(length - 1, 5), logits, allLogits: true);
            state.Position = p0 + 3;
            draft.Accepted(length + 2);
            length += 2;
            sequence[length] = (sequence[length] + 1) % vocab;
            length++;
        }
        for (int i = 0; i < 3; i++) Cycle();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) Cycle();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(draft.Predictor!.TrackedTokens > 0);
    }

    /// <summary>The draft's logits after <paramref name="sequence"/> are bit for bit those of a fresh draft model.</summary>
    static void AssertSameAsFresh(Pair p, ModelDraft draft, List<int> sequence)
    {
        var state = p.Target.CreateState(Context);
        state.Position = sequence.Count - 1;
        var tokens = sequence.ToArray();
        var ours = new float[p.Target.Config.VocabSize];
        draft.Begin(state, tokens);
        draft.Next(tokens[^1], ours);
        draft.End();

        using var fresh = p.CreateDraft();
        var theirs = new float[ours.Length];
        fresh.Begin(state, tokens);
        fresh.Next(tokens[^1], theirs);
        Assert.True(MemoryMarshal.Cast<float, int>(ours.AsSpan()).SequenceEqual(MemoryMarshal.Cast<float, int>(theirs.AsSpan())),
            "the draft's logits differ from a fresh draft's on the same sequence");
    }

    [Fact]
    public void ADraftOfAnotherVocabularySizeIsAClearError()
    {
        string target = TestPaths.Shared("fixtures", "moe-target-f16.gguf");
        string draft = TestPaths.Golden("llama-draft.gguf");
        using var model = ModelLoader.Load(target, TargetOptions);
        var builder = new ModelDraftBuilder(4, new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident")));
        var e = Assert.Throws<ArgumentException>(() => builder.Create(model, draft, DraftOptions).Dispose());
        Assert.Contains("moe-target-f16.gguf", e.Message);
        Assert.Contains("llama-draft.gguf", e.Message);
        Assert.Contains("32000", e.Message);
        Assert.Contains("4096", e.Message);
    }

    [Fact]
    public void ADraftWhoseTokensDifferIsAClearError()
    {
        string target = TestPaths.Shared("fixtures", "moe-target-f16.gguf");
        string draft = Path.Combine(Path.GetTempPath(), $"moespeq-other-vocab-{Environment.ProcessId}.gguf");
        try
        {
            // Same size, a synthetic vocabulary: the strings differ.
            RandomModelWriter.Write(new RandomModelSpec { Layers = 1, Dim = 64, Heads = 2, KvHeads = 1, Experts = 0, Ffn = 64, Vocab = 4096, ContextLength = 256, Type = GgmlType.F32 }, draft);
            using var model = ModelLoader.Load(target, TargetOptions);
            var builder = new ModelDraftBuilder(4, new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident")));
            var e = Assert.Throws<ArgumentException>(() => builder.Create(model, draft, DraftOptions).Dispose());
            Assert.Contains("moe-target-f16.gguf", e.Message);
            Assert.Contains(Path.GetFileName(draft), e.Message);
            Assert.Contains("differ", e.Message);
        }
        finally
        {
            File.Delete(draft);
        }
    }

    [Fact]
    public void TheDescriptionNamesTheDraftAndItsMemory()
    {
        using var p = new Pair("fixture");
        using var draft = p.CreateDraft();
        Assert.StartsWith("draft model: ", draft.Description);
        Assert.Contains("(dense, 2 layers)", draft.Description);
        Assert.Contains("MB resident", draft.Description);
        long kv = 4L * Context * draft.Model.Config.BlockCount * (draft.Model.Config.KeyWidth + draft.Model.Config.ValueWidth);
        Assert.Equal(draft.Model.Weights.LoadedBytes + kv, draft.ResidentBytes);
        Assert.True(draft.Model.Weights.LoadedBytes > 4_000_000);
    }

    [Fact]
    public void ADenseTargetGetsADraftWithoutForecasts()
    {
        // The golden draft as its own target: no routed experts, so no observer is built.
        string path = TestPaths.Golden("llama-draft.gguf");
        var runtime = new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident"));
        var builder = new ModelDraftBuilder(4, runtime);
        using var target = ModelLoader.Load(path, builder.Attach(runtime.Attach(TargetOptions)));
        using var draft = builder.Create(target, path, DraftOptions);
        Assert.Null(draft.Lookahead);
        var tokenizer = Tokenizer.FromGguf(target.File.Header);
        var prompt = tokenizer.Encode(Text, addSpecial: true).ToArray();
        var plain = new List<int>();
        var speculative = new List<int>();
        new Generator(target, tokenizer, Context).GenerateTokens(prompt, 24, SamplerOptions.Greedy, plain.Add, TestContext.Current.CancellationToken);
        new Generator(target, tokenizer, Context, new SpeculativeDecoding(draft, new SpeculationOptions { Depth = 4 }, runtime))
            .GenerateTokens(prompt, 24, SamplerOptions.Greedy, speculative.Add, TestContext.Current.CancellationToken);
        Assert.Equal(plain, speculative);
        // The same model drafts for itself: every draft is accepted.
        Assert.All(runtime.Stats.Speculation.Snapshot().AcceptanceByDepth, rate => Assert.Equal(1.0, rate));
    }
}

using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model;

/// <summary>Load-time choices that are policy, not architecture: threads, batch size, where experts run.</summary>
public sealed record ModelOptions
{
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Positions per forward pass; longer inputs are evaluated in chunks of this size.</summary>
    public int MaxBatch { get; init; } = 128;
    /// <summary>Whether matrices are loaded into anonymous memory (the default) or read through the file mapping.</summary>
    public WeightPlacement Placement { get; init; } = WeightPlacement.Load;
    /// <summary>
    /// Builds the executor for routed experts; null runs them resident. An executor that is
    /// <see cref="IDisposable"/> is disposed with the model.
    /// </summary>
    public Func<ExpertLayout, IExpertExecutor>? ExpertExecutor { get; init; }
    /// <summary>
    /// Whether routed experts are loaded with the other matrices. An executor that serves them from a slow tier sets
    /// this false, and the expert matrices in <see cref="ExpertLayout"/> are then views of the mapped file that
    /// locate each expert's bytes (<see cref="ModelWeights.LocationOf"/>: file and offset) rather than memory to compute from.
    /// </summary>
    public bool LoadExperts { get; init; } = true;
    /// <summary>Called with (layers prepared, total layers) while the model loads.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>The executor these options give the routed experts of <paramref name="layout"/>: <see cref="ExpertExecutor"/>'s, else resident.</summary>
    public IExpertExecutor BuildExpertExecutor(ExpertLayout layout) => ExpertExecutor?.Invoke(layout) ?? layout.ResidentExecutor(MaxBatch);
}

/// <summary>
/// Where every routed expert's weights are, for executors that serve them from another tier: [layer][expert]
/// matrices (an empty array for a dense layer) with their biases if any, the model's weights, its matmul, a preview
/// of every router, and the activation the experts use.
/// </summary>
public sealed record ExpertLayout(ModelConfig Config, ModelWeights Weights, ExpertWeights[][] Layers, MatMul MatMul, RouterPreview Routers)
{
    public GgufFile File => Weights.File;

    /// <summary>The gated activation of every expert of the model.</summary>
    public ExpertActivation Activation { get; init; } = ExpertActivation.SwiGlu;

    /// <summary>An expert FFN of this model's shape and activation for <paramref name="capacity"/> rows (expert slots) per call.</summary>
    public ExpertFfn CreateFfn(int capacity) =>
        new(MatMul, Config.EmbeddingLength, Config.ExpertFeedForwardLength, capacity, Activation);

    /// <summary>
    /// Runs <paramref name="layers"/> (by default this model's own experts) from memory, for batches of up to
    /// <paramref name="maxBatch"/> positions.
    /// </summary>
    public ResidentExpertExecutor ResidentExecutor(int maxBatch, ExpertWeights[][]? layers = null) =>
        new(layers ?? Layers, CreateFfn(maxBatch), Config.ExpertCount, maxBatch * Config.ExpertUsedCount);
}

/// <summary>A loaded decoder-only model: configuration, weights over the mapped file, and its forward pass.</summary>
public abstract class LanguageModel : IDisposable
{
    protected LanguageModel(GgufFile file, ModelConfig config, ModelOptions options)
    {
        File = file;
        Config = config;
        Options = options;
        Weights = new ModelWeights(file, options.Placement, options.LoadExperts);
        Pool = new ComputePool(Math.Max(1, options.Threads));
        MatMul = new MatMul(Pool);
    }

    public GgufFile File { get; }
    public ModelWeights Weights { get; }
    public ModelConfig Config { get; }
    public ModelOptions Options { get; }
    public ComputePool Pool { get; }
    protected MatMul MatMul { get; }

    /// <summary>Optional receiver of named intermediate activations (for layer-by-layer comparison).</summary>
    public IActivationSink? Sink { get; set; }

    /// <summary>
    /// Makes forward passes observe <paramref name="cancel"/> until the returned scope is disposed (one generation):
    /// <see cref="Evaluate"/> then throws <see cref="OperationCanceledException"/> once it is set, between batches and,
    /// where experts come from a slow tier, while waiting for one. Disposing the scope after a cancellation leaves
    /// the model ready for the next generation.
    /// </summary>
    public IDisposable ObserveCancellation(CancellationToken cancel)
    {
        if (_observing) throw new InvalidOperationException("a generation is already observing cancellation on this model");
        _observing = true;
        _cancel = cancel;
        foreach (var c in _cancellable) c.Observe(cancel);
        return new CancellationScope(this);
    }

    sealed class CancellationScope(LanguageModel model) : IDisposable
    {
        bool _ended;

        public void Dispose()
        {
            if (_ended) return;
            _ended = true;
            foreach (var c in model._cancellable) c.EndObserving();
            model._cancel = default;
            model._observing = false;
        }
    }

    public RunState CreateState(int contextLength) =>
        new(Config, Math.Min(contextLength, Math.Max(Config.ContextLength, 1)), Options.MaxBatch);

    /// <summary>
    /// Evaluates <paramref name="tokens"/> at positions state.Position… and advances the position. Writes the logits of
    /// every position ([n, vocab]) when <paramref name="allLogits"/>, else of the last position only ([1, vocab]).
    /// </summary>
    public void Evaluate(RunState state, ReadOnlySpan<int> tokens, Span<float> logits, bool allLogits)
    {
        int vocab = Config.VocabSize;
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to evaluate", nameof(tokens));
        if (logits.Length < (allLogits ? tokens.Length : 1) * vocab) throw new ArgumentException("logits buffer too small", nameof(logits));
        if (state.Position + tokens.Length > state.ContextLength)
            throw new InvalidOperationException($"context full: {state.Position} + {tokens.Length} tokens exceed the context of {state.ContextLength}");
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} is outside the vocabulary (0..{vocab - 1})");

        if (state.Position == 0) Experts?.OnSequenceStart();
        for (int start = 0; start < tokens.Length; start += state.MaxBatch)
        {
            _cancel.ThrowIfCancellationRequested();
            int n = Math.Min(state.MaxBatch, tokens.Length - start);
            bool last = start + n == tokens.Length;
            int logitRows = allLogits ? n : last ? 1 : 0;
            Forward(state, tokens.Slice(start, n), state.Position, logitRows);
            state.Position += n;
            if (logitRows == 0) continue;
            var produced = state.Logits.AsSpan(0, logitRows * vocab);
            produced.CopyTo(allLogits ? logits.Slice(start * vocab) : logits);
        }
    }

    /// <summary>
    /// One forward pass over a batch at positions startPos…; writes the logits of the last
    /// <paramref name="logitRows"/> positions to state.Logits ([logitRows, vocab]).
    /// </summary>
    protected abstract void Forward(RunState state, ReadOnlySpan<int> tokens, int startPos, int logitRows);

    /// <summary>x[t, :] = the embedding row of tokens[t], dequantized; x: [tokens, dim].</summary>
    protected static void EmbedTokens(in WeightMatrix table, ReadOnlySpan<int> tokens, Span<float> x)
    {
        int dim = table.Cols;
        for (int t = 0; t < tokens.Length; t++) Dequantize.Row(table.Type, table.Row(tokens[t]), x.Slice(t * dim, dim));
    }

    /// <summary>
    /// Hands the routed experts ([layer][expert], empty for a dense layer) to the executor the options choose, with a
    /// preview of each MoE layer's FFN norm and router (null for a dense layer) for predictors that look ahead.
    /// </summary>
    protected IExpertExecutor InstallExperts(ExpertWeights[][] experts, RouterPreview.Layer?[] routers, ExpertActivation activation = ExpertActivation.SwiGlu)
    {
        var preview = new RouterPreview(MatMul, Config.EmbeddingLength, Config.ExpertCount, Config.RmsNormEps, routers);
        var layout = new ExpertLayout(Config, Weights, experts, MatMul, preview) { Activation = activation };
        return UseExperts(Options.BuildExpertExecutor(layout));
    }

    /// <summary>
    /// The output head over the last <paramref name="logitRows"/> of the batch's residual stream x ([n, dim]): RMS norm
    /// (plus its bias, where the architecture has one) into the first rows of xn, then the output projection (plus
    /// its bias) into state.Logits ([logitRows, vocab]). Rows that need no logits are neither normalised nor projected.
    /// </summary>
    protected void OutputHead(RunState s, ReadOnlySpan<float> x, Span<float> xn, int n, int logitRows, float[] norm, in WeightMatrix output,
        float[]? normBias = null, float[]? outputBias = null)
    {
        if (logitRows == 0) return;
        int dim = Config.EmbeddingLength;
        var lastX = x.Slice((n - logitRows) * dim, logitRows * dim);
        var lastXn = xn[..(logitRows * dim)];
        Layers.RmsNorm.ApplyRows(lastX, norm, lastXn, logitRows, Config.RmsNormEps);
        Layers.Bias.AddRows(lastXn, normBias, logitRows);
        var logits = s.Logits.AsSpan(0, logitRows * Config.VocabSize); // [logitRows, vocab]
        MatMul.Multiply(output, lastXn, logits, logitRows);
        Layers.Bias.AddRows(logits, outputBias, logitRows);
    }

    readonly List<IDisposable> _owned = [];
    readonly List<ICancellableExpertExecutor> _cancellable = [];
    CancellationToken _cancel;
    bool _observing;

    /// <summary>The executor of the routed experts, for an MoE model once loaded.</summary>
    protected IExpertExecutor? Experts { get; private set; }

    /// <summary>
    /// Installs the routed-expert executor: disposed with the model when it is disposable, and told of a
    /// generation's cancellation when it is an <see cref="ICancellableExpertExecutor"/>.
    /// </summary>
    protected IExpertExecutor UseExperts(IExpertExecutor executor)
    {
        Experts = executor;
        if (executor is IDisposable d) _owned.Add(d);
        if (executor is ICancellableExpertExecutor c) _cancellable.Add(c);
        return executor;
    }

    /// <summary>For a derived constructor that throws: frees what this base built (the loader closes the file).</summary>
    protected void ReleaseAfterFailedLoad()
    {
        foreach (var d in _owned) d.Dispose();
        Pool.Dispose();
        Weights.Dispose();
    }

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
        _owned.Clear();
        Pool.Dispose();
        Weights.Dispose();
        File.Dispose();
        GC.SuppressFinalize(this);
    }
}

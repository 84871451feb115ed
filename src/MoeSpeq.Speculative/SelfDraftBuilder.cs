using MoeSpeq.Experts;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Speculative.Replay;
using MoeSpeq.Tensors;

namespace MoeSpeq.Speculative;

/// <summary>
/// Builds a self-draft while the target loads: <see cref="Attach"/> wraps the expert executor that the expert
/// runtime chose (resident or offloaded) in a <see cref="SelfDraftExecutor"/> whose draft mode runs low-bit copies
/// of the experts, converted at load or read from a make-draft file as <paramref name="experts"/> says, and
/// <see cref="Create"/> returns the draft once the model exists. When the runtime records a trace the draft's
/// routing is recorded too (<see cref="SpeculationRecorder"/>); given a recorded run to <see cref="Replay"/>, both
/// the draft's and the target's routing and the acceptance are replayed from it.
/// </summary>
public sealed class SelfDraftBuilder(DraftExpertsSource experts, int maxDepth, ExpertRuntime runtime)
{
    /// <summary>A self-draft whose experts are converted to <paramref name="expertType"/> at load.</summary>
    public SelfDraftBuilder(GgmlType expertType, int maxDepth, ExpertRuntime runtime)
        : this(new DraftExpertsSource.AtLoad(expertType), maxDepth, runtime)
    {
    }

    SelfDraftExecutor? _executor;
    DraftExperts? _experts;
    SpeculativeRoutingReplay? _replaying;
    SpeculationRecorder? _recorder;

    /// <summary>A recorded self-draft run to replay on this model (a benchmark mode for random-weight models).</summary>
    public SpeculationTrace? Replay { get; init; }

    /// <summary>What sees each cycle: the recorder, the replay, or nothing; hand it to <see cref="SpeculativeDecoding.Hook"/>.</summary>
    public ICycleHook? Hook => (ICycleHook?)_replaying ?? _recorder;

    /// <summary>The replay, once the model is loaded with <see cref="Replay"/>.</summary>
    public SpeculativeRoutingReplay? Replaying => _replaying;

    /// <summary>Called with (experts converted, total) while the draft experts are built at load.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>Model options whose expert executor can also draft; <paramref name="options"/> has the runtime attached already.</summary>
    public ModelOptions Attach(ModelOptions options)
    {
        return options with
        {
            ExpertExecutor = layout =>
            {
                var c = layout.Config;
                var targetExecutor = options.BuildExpertExecutor(layout);
                try
                {
                    _experts = experts.Create(layout, options.Threads, Progress);
                    IExpertExecutor draftExecutor = new OwningExecutor(
                        layout.ResidentExecutor(maxBatch: 1, _experts.Layers),
                        _experts);
                    if (runtime.Trace is { } targetTrace && Replay is null)
                        draftExecutor = (_recorder = new SpeculationRecorder()).Wrap(draftExecutor, targetTrace, layout.Routers);
                    var elb = new ExpertLookaheadBuffer(maxDepth, layout.Layers.Length, c.ExpertCount, c.ExpertUsedCount);
                    _executor = new SelfDraftExecutor(targetExecutor, draftExecutor, runtime.PrefetchSink, elb, runtime.Stats.Speculation);
                    if (Replay is null) return _executor;
                    int[] moeLayers = [.. Enumerable.Range(0, layout.Layers.Length).Where(l => layout.Layers[l].Length > 0)];
                    return _replaying = new SpeculativeRoutingReplay(_executor, Replay, layout.Layers.Length, moeLayers, c.ExpertCount, c.ExpertUsedCount);
                }
                catch
                {
                    (targetExecutor as IDisposable)?.Dispose();
                    _experts?.Dispose();
                    throw;
                }
            },
        };
    }

    /// <summary>The draft of <paramref name="model"/>, which must have been loaded with <see cref="Attach"/>'s options.</summary>
    public SelfDraft Create(LanguageModel model)
    {
        if (_executor is null || _experts is null)
            throw new ArgumentException($"a self-draft needs routed experts, and {Path.GetFileName(model.File.Path)} has none: use a separate draft model (--draft)");
        return new SelfDraft(model, _executor, _experts);
    }

    /// <summary>An executor that frees the draft experts it computes with, when the model is disposed.</summary>
    sealed class OwningExecutor(IExpertExecutor inner, IDisposable owned) : IExpertExecutor, IDisposable
    {
        public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output) =>
            inner.Forward(layer, residual, hidden, ids, weights, tokens, k, output);

        public void Dispose() => owned.Dispose();
    }
}

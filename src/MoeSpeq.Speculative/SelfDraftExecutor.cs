using MoeSpeq.Experts;
using MoeSpeq.Experts.Prediction;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative;

/// <summary>
/// The expert executor of a self-drafting model. Outside a draft it hands every layer to the target's executor
/// (resident, or the offloaded runtime). While the draft runs it computes the layer with the resident low-bit expert
/// copies instead, records the router's choice in the <see cref="ExpertLookaheadBuffer"/> and passes it at once to the
/// prefetcher, so that the experts the verification will need are read while the draft still computes. The router
/// is the model's in both modes; only where the expert weights come from differs.
/// </summary>
/// <remarks>
/// The ELB drives the three prefetch phases through the target's cache: an expert it names that is cached is kept
/// (never evicted while the cycle still needs it) and costs no I/O (I); one that is not is queued as a prefetch
/// ordered by its layer in the coming verification and by confidence, so the middle of the buffer streams in while
/// the draft runs (II); whatever is still queued when verification starts is read ahead of the layers that need it,
/// behind the demand misses of the layer being computed (III).
/// </remarks>
public sealed class SelfDraftExecutor : IExpertExecutor, ICancellableExpertExecutor, IDisposable
{
    readonly IExpertExecutor _target;
    readonly IExpertExecutor _draft;
    readonly IPrefetchSink? _prefetch;
    readonly ExpertLookaheadBuffer _elb;
    readonly SpeculationStats _stats;
    readonly LookaheadScorer _scorer;

    public SelfDraftExecutor(IExpertExecutor target, IExpertExecutor draft, IPrefetchSink? prefetch, ExpertLookaheadBuffer elb, SpeculationStats stats)
    {
        _target = target;
        _draft = draft;
        _prefetch = prefetch;
        _elb = elb;
        _stats = stats;
        _scorer = new LookaheadScorer(elb.ExpertsPerLayer);
    }

    public ExpertLookaheadBuffer Lookahead => _elb;

    /// <summary>The draft depth (1-based) of the pass now running, or 0 when the target runs.</summary>
    public int DraftDepth { get; set; }

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        if (DraftDepth == 0)
        {
            // A verification right after a draft: how well did the draft's routing foresee the target's?
            if (_elb.Depth > 0) _scorer.Score(_elb, _stats, layer, ids, tokens, k);
            _target.Forward(layer, residual, hidden, ids, weights, tokens, k, output);
            return;
        }
        // A draft pass evaluates one position: its routing is the ELB entry of this depth.
        var last = ids.Slice((tokens - 1) * k, k);
        var confidence = weights.Slice((tokens - 1) * k, k);
        _elb.Record(DraftDepth, layer, last, confidence, _prefetch);
        _draft.Forward(layer, residual, hidden, ids, weights, tokens, k, output);
    }

    public void OnSequenceStart() => _target.OnSequenceStart();

    public void Observe(CancellationToken cancel)
    {
        if (_target is ICancellableExpertExecutor c) c.Observe(cancel);
    }

    public void EndObserving()
    {
        // A generation cancelled mid-cycle leaves its lookahead behind; the next one must not be scored against it.
        DraftDepth = 0;
        _elb.Clear();
        if (_target is ICancellableExpertExecutor c) c.EndObserving();
    }

    public void Dispose()
    {
        (_target as IDisposable)?.Dispose();
        (_draft as IDisposable)?.Dispose();
    }
}

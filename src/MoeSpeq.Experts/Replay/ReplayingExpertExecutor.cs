using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Replay;

/// <summary>
/// Replaces the model's own expert choice with a <see cref="RoutingReplay"/>'s before the executor that serves the
/// experts sees it, so caching, prefetch and I/O run on realistic routing. The computed values are then those of
/// the replayed routing: a benchmark mode for random-weight models, never for real text.
/// </summary>
public sealed class ReplayingExpertExecutor : IExpertExecutor, ICancellableExpertExecutor, IDisposable
{
    readonly IExpertExecutor _inner;
    readonly RoutingReplay _replay;
    readonly StepTracker _steps = new();
    int[] _ids = [];
    float[] _weights = [];

    public ReplayingExpertExecutor(IExpertExecutor inner, RoutingReplay replay)
    {
        _inner = inner;
        _replay = replay;
    }

    public void OnSequenceStart()
    {
        _steps.OnSequenceStart();
        _inner.OnSequenceStart();
    }

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        _steps.Advance(layer, tokens, out _);
        int moe = _replay.MoeIndexOf(layer);
        if (moe < 0) throw new InvalidOperationException($"layer {layer} routes experts but the replay has no MoE layer for it");
        if (_ids.Length < tokens * k)
        {
            _ids = new int[tokens * k];
            _weights = new float[tokens * k];
        }
        for (int t = 0; t < tokens; t++)
            _replay.Choose(_steps.FirstToken + t, moe, _ids.AsSpan(t * k, k), _weights.AsSpan(t * k, k));
        _replay.CurrentToken = _steps.FirstToken + tokens - 1;
        _inner.Forward(layer, residual, hidden, _ids.AsSpan(0, tokens * k), _weights.AsSpan(0, tokens * k), tokens, k, output);
    }

    public void Observe(CancellationToken cancel) => (_inner as ICancellableExpertExecutor)?.Observe(cancel);
    public void EndObserving() => (_inner as ICancellableExpertExecutor)?.EndObserving();

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}

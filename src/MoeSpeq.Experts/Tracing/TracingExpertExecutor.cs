using System.Diagnostics;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;

namespace MoeSpeq.Experts.Tracing;

/// <summary>
/// Records every routed-expert access into an <see cref="ExpertTrace"/> on its way to the executor that serves it,
/// so any placement (resident, disk, host) can be traced. With router probabilities it also applies each MoE
/// layer's router, and the routers of the next <see cref="TraceShape.Depth"/> MoE layers, to the residual stream:
/// the distributions replay and look-ahead analysis need. Time spent recording is left out of the compute time.
/// </summary>
public sealed class TracingExpertExecutor : IExpertExecutor, ICancellableExpertExecutor, IDisposable
{
    readonly IExpertExecutor _inner;
    readonly ExpertTrace _trace;
    readonly RouterPreview? _routers;
    readonly ExpertStats? _stats;
    readonly StepTracker _steps = new();
    long _stepStarted, _recordingTicks, _stallAtStart;

    /// <param name="routers">Required when the trace holds probabilities.</param>
    /// <param name="stats">The serving runtime's stats, whose stall time is not compute time.</param>
    public TracingExpertExecutor(IExpertExecutor inner, ExpertTrace trace, RouterPreview? routers, ExpertStats? stats)
    {
        if (trace.Shape.HasProbabilities && routers is null) throw new ArgumentException("a trace of router probabilities needs the routers", nameof(routers));
        _inner = inner;
        _trace = trace;
        _routers = routers;
        _stats = stats;
    }

    public ExpertTrace Trace => _trace;

    public void OnSequenceStart()
    {
        _steps.OnSequenceStart();
        _inner.OnSequenceStart();
    }

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        long t0 = Stopwatch.GetTimestamp();
        if (_steps.Advance(layer, tokens, out bool sequenceStart))
        {
            CloseStep(t0);
            _trace.BeginStep(tokens, sequenceStart);
            _stepStarted = t0;
            _stallAtStart = Stall;
            _recordingTicks = 0;
        }
        Record(layer, residual, ids, weights, tokens, k);
        _recordingTicks += Stopwatch.GetTimestamp() - t0;
        _inner.Forward(layer, residual, hidden, ids, weights, tokens, k, output);
    }

    /// <summary>Ends the last forward pass's timing; call when the run is over, before saving.</summary>
    public void Finish() => CloseStep(Stopwatch.GetTimestamp());

    long Stall => _stats is null ? 0 : Interlocked.Read(ref _stats.StallTicks);

    void CloseStep(long now)
    {
        if (_trace.Steps.Count == 0) return;
        long compute = now - _stepStarted - _recordingTicks - (Stall - _stallAtStart);
        _trace.EndStep(Stopwatch.GetElapsedTime(0, Math.Max(0, compute)).TotalSeconds);
    }

    void Record(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k)
    {
        int moe = _trace.MoeIndexOf(layer);
        if (moe < 0 || k != _trace.Shape.K) throw new InvalidOperationException($"layer {layer} routing ({k} experts) does not match the trace's shape");
        var shape = _trace.Shape;
        int dim = residual.Length / tokens;
        for (int t = 0; t < tokens; t++)
        {
            var row = _trace.WritableRow(_steps.FirstToken + t, moe);
            ids.Slice(t * k, k).CopyTo(row.Ids);
            weights.Slice(t * k, k).CopyTo(row.Weights);
            if (!shape.HasProbabilities) continue;
            var residualRow = residual.Slice(t * dim, dim);
            _routers!.Logits(layer, residualRow, row.Probs);
            Router.Softmax(row.Probs);
            for (int d = 1; d <= shape.Depth; d++)
            {
                var ahead = row.Lookahead.Slice((d - 1) * shape.Experts, shape.Experts);
                if (moe + d >= shape.MoeLayerCount)
                {
                    ahead.Fill(float.NaN);
                    continue;
                }
                _routers.Logits(shape.MoeLayers[moe + d], residualRow, ahead);
                Router.Softmax(ahead);
            }
        }
    }

    public void Observe(CancellationToken cancel) => (_inner as ICancellableExpertExecutor)?.Observe(cancel);
    public void EndObserving() => (_inner as ICancellableExpertExecutor)?.EndObserving();

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}

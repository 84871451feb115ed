using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;

namespace MoeSpeq.Experts.Prediction;

/// <summary>
/// Applies the FFN norm and router of each of the next <c>depth</c> MoE layers to the current layer's residual
/// stream (as Mixtral-offloading, AdapMoE and HOBBIT do) and predicts their top k + <c>extra</c> experts, with the
/// softmax probability as confidence. Hidden states change slowly across layers, which is why this works; each
/// layer further ahead is less certain, so deeper guesses queue behind nearer ones. For a batch, the last
/// position is previewed: it is the one whose continuation decode needs next.
/// </summary>
public sealed class GateLookaheadPredictor : IExpertPredictor
{
    readonly RouterPreview _routers;
    readonly int _depth, _extra;
    readonly float[] _logits;
    readonly int[] _top;

    public GateLookaheadPredictor(RouterPreview routers, int k, int depth = 1, int extra = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(extra);
        _routers = routers;
        _depth = depth;
        _extra = extra;
        _logits = new float[routers.ExpertCount];
        _top = new int[Math.Min(routers.ExpertCount, k + extra)];
    }

    public string Name => $"gate-lookahead:{_depth}:{_extra}";

    public void Observe(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<int> ids, int tokens, int k, IPrefetchSink sink)
    {
        int dim = residual.Length / tokens;
        var row = residual.Slice((tokens - 1) * dim, dim);
        int ahead = 0;
        for (int next = layer + 1; next < _routers.LayerCount && ahead < _depth; next++)
        {
            if (!_routers.Routes(next)) continue;
            ahead++;
            _routers.Logits(next, row, _logits);
            Router.Softmax(_logits);
            Router.TopK(_logits, _top);
            foreach (int e in _top) sink.Predict(new ExpertKey(next, e), next - layer, _logits[e]);
        }
    }
}

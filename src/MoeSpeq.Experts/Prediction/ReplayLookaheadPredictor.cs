using MoeSpeq.Experts.Replay;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;

namespace MoeSpeq.Experts.Prediction;

/// <summary>
/// Gate look-ahead under routing replay: the random model's own routers say nothing about the replayed routing, so
/// the look-ahead distributions recorded on the trained model (its next layers' routers applied to its residual
/// stream) are replayed instead, folded onto the target's experts like the routing itself.
/// </summary>
public sealed class ReplayLookaheadPredictor : IExpertPredictor
{
    readonly RoutingReplay _replay;
    readonly int _depth, _extra;
    readonly float[] _probs;
    readonly int[] _top;

    public ReplayLookaheadPredictor(RoutingReplay replay, int experts, int k, int depth, int extra)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        _replay = replay;
        _depth = depth;
        _extra = extra;
        _probs = new float[experts];
        _top = new int[Math.Min(experts, k + extra)];
    }

    public string Name => $"gate-lookahead:{_depth}:{_extra} (replayed)";

    public void Observe(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<int> ids, int tokens, int k, IPrefetchSink sink)
    {
        int moe = _replay.MoeIndexOf(layer);
        int token = _replay.CurrentToken;
        var layers = _replay.TargetMoeLayers;
        for (int d = 1; d <= _depth; d++)
        {
            if (!_replay.Lookahead(token, moe, d, _probs)) continue;
            Router.TopK(_probs, _top);
            int next = layers[moe + d];
            foreach (int e in _top) sink.Predict(new ExpertKey(next, e), next - layer, _probs[e]);
        }
    }
}

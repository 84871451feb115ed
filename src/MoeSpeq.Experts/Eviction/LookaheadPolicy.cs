using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Eviction;

/// <summary>
/// Lookahead-aware eviction: evicts the expert whose next use is expected furthest away (<see cref="NextUseEstimate"/>:
/// the layer cycle, decayed activation rates and, with a predictor, its confidences), the online stand-in for
/// Belady's MIN. Priority is the negated expected distance; recency breaks ties.
/// </summary>
public sealed class LookaheadPolicy(int layers, int experts, int expertsUsed = 0) : IEvictionPolicy
{
    readonly NextUseEstimate _nextUse = new(layers, experts, expertsUsed);
    readonly long[] _lastUse = new long[layers * experts];

    public string Name => "lookahead";

    public void OnSequenceStart() { }
    public void OnInsert(ExpertKey key, long time) { }
    public void OnEvict(ExpertKey key) { }
    public void OnLayerStart(int layer) => _nextUse.OnLayerStart(layer);
    public void OnPredicted(ExpertKey key, float confidence) => _nextUse.OnPredicted(key, confidence);

    public void OnAccess(ExpertKey key, long time)
    {
        _nextUse.OnAccess(key);
        _lastUse[key.Layer * experts + key.Expert] = time;
    }

    public double Priority(ExpertKey key, long time) => -_nextUse.Distance(key) + 1e-9 * _lastUse[key.Layer * experts + key.Expert] / Math.Max(1, time);
}

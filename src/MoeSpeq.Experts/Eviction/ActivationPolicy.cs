using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Eviction;

/// <summary>
/// MoE-Infinity-style activation awareness: the current sequence's expert activation counts (reset per request)
/// predict its next uses better than global history, because a request keeps reusing its own experts. Priority =
/// share of the layer's activations in this sequence + 0.1 × share in the all-time history (the prior for a fresh
/// request), with a tiny recency term to break ties.
/// </summary>
public sealed class ActivationPolicy(int layers, int experts) : IEvictionPolicy
{
    const double HistoryWeight = 0.1;

    readonly long[] _sequence = new long[layers * experts];
    readonly long[] _sequenceLayer = new long[layers];
    readonly long[] _history = new long[layers * experts];
    readonly long[] _historyLayer = new long[layers];
    readonly long[] _lastUse = new long[layers * experts];

    public string Name => "activation";

    public void OnSequenceStart()
    {
        Array.Clear(_sequence);
        Array.Clear(_sequenceLayer);
    }

    public void OnInsert(ExpertKey key, long time) { }
    public void OnEvict(ExpertKey key) { }

    public void OnAccess(ExpertKey key, long time)
    {
        int i = key.Layer * experts + key.Expert;
        _sequence[i]++;
        _sequenceLayer[key.Layer]++;
        _history[i]++;
        _historyLayer[key.Layer]++;
        _lastUse[i] = time;
    }

    public double Priority(ExpertKey key, long time)
    {
        int i = key.Layer * experts + key.Expert;
        double current = _sequence[i] / (double)Math.Max(1, _sequenceLayer[key.Layer]);
        double prior = _history[i] / (double)Math.Max(1, _historyLayer[key.Layer]);
        return current + HistoryWeight * prior + 1e-9 * _lastUse[i] / Math.Max(1, time);
    }
}

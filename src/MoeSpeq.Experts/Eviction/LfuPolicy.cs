using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Eviction;

/// <summary>
/// Least frequently used, with exponential decay: each access adds 2^(time / halfLife), so a count halves in
/// weight every <c>halfLife</c> accesses and experts popular long ago give way to those popular now. Frequencies
/// survive eviction, so an expert that keeps coming back is recognised. Ties go to the more recently used.
/// </summary>
public sealed class LfuPolicy : IEvictionPolicy
{
    // About a few hundred tokens of a Mixtral-sized model: long enough to learn usage, short enough to follow a topic.
    public const int DefaultHalfLife = 4096;

    readonly int _experts;
    readonly double[] _score; // Σ 2^(t_access / halfLife), rescaled together when it grows large
    readonly long[] _lastUse;
    readonly double _halfLife;
    long _origin;

    public LfuPolicy(int layers, int experts, int halfLife = DefaultHalfLife)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(halfLife, 1);
        _experts = experts;
        _score = new double[layers * experts];
        _lastUse = new long[layers * experts];
        _halfLife = halfLife;
    }

    public string Name => "lfu";
    public void OnSequenceStart() { }
    public void OnInsert(ExpertKey key, long time) { }
    public void OnEvict(ExpertKey key) { }

    public void OnAccess(ExpertKey key, long time)
    {
        double weight = Math.Pow(2, (time - _origin) / _halfLife);
        if (weight > 1e100) Rescale(time, ref weight);
        int i = key.Layer * _experts + key.Expert;
        _score[i] += weight;
        _lastUse[i] = time;
    }

    // Scores are only compared with each other, so the recency tiebreak can be a tiny fraction of one access.
    public double Priority(ExpertKey key, long time)
    {
        int i = key.Layer * _experts + key.Expert;
        return _score[i] + 1e-9 * _lastUse[i] / Math.Max(1, time);
    }

    void Rescale(long time, ref double weight)
    {
        double factor = Math.Pow(2, (time - _origin) / _halfLife);
        for (int i = 0; i < _score.Length; i++) _score[i] /= factor;
        _origin = time;
        weight = 1;
    }
}

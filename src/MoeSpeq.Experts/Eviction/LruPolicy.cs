using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Eviction;

/// <summary>Least recently used: priority is the time of the last access.</summary>
public sealed class LruPolicy(int layers, int experts) : IEvictionPolicy
{
    readonly long[] _lastUse = new long[layers * experts];

    public string Name => "lru";
    public void OnSequenceStart() { }
    public void OnInsert(ExpertKey key, long time) => _lastUse[key.Layer * experts + key.Expert] = time;
    public void OnAccess(ExpertKey key, long time) => _lastUse[key.Layer * experts + key.Expert] = time;
    public void OnEvict(ExpertKey key) { }
    public double Priority(ExpertKey key, long time) => _lastUse[key.Layer * experts + key.Expert];
}

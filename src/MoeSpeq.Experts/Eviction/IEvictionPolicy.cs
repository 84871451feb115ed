using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Eviction;

/// <summary>
/// Ranks the experts held in a budgeted cache for eviction: the cache evicts the evictable expert of lowest
/// <see cref="Priority"/>. The live cache and the offline trace replay drive the same implementations, so a policy's
/// replayed hit rate is the hit rate it gets at run time. Calls come under the cache's lock: no locking inside.
/// Time is a logical clock that advances by one per expert access.
/// </summary>
public interface IEvictionPolicy
{
    /// <summary>The name it is chosen by (<c>--cache-policy</c>).</summary>
    string Name { get; }

    /// <summary>A new sequence (request) starts; per-sequence history resets.</summary>
    void OnSequenceStart();

    /// <summary><paramref name="key"/> entered the cache at <paramref name="time"/>.</summary>
    void OnInsert(ExpertKey key, long time);

    /// <summary><paramref name="key"/> was used by a forward pass at <paramref name="time"/> (hit or first use after its load).</summary>
    void OnAccess(ExpertKey key, long time);

    /// <summary><paramref name="key"/> left the cache.</summary>
    void OnEvict(ExpertKey key);

    /// <summary>How much the cache should keep <paramref name="key"/> now: the lowest is evicted first.</summary>
    double Priority(ExpertKey key, long time);

    /// <summary>A forward pass reaches <paramref name="layer"/>; the predictions made for it are spent.</summary>
    void OnLayerStart(int layer) { }

    /// <summary>A predictor expects <paramref name="key"/> at its layer's next run with probability <paramref name="confidence"/>.</summary>
    void OnPredicted(ExpertKey key, float confidence) { }
}

using MoeSpeq.Experts.Eviction;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Analysis;

/// <summary>Hits and misses of one replay: overall, and per trace step (misses per step turn into bytes to read).</summary>
public sealed record SimulationResult(string Policy, int Slots, long Accesses, long Hits, long DecodeAccesses, long DecodeHits, long[] MissesPerStep)
{
    public double HitRate => Accesses == 0 ? 0 : (double)Hits / Accesses;
    public double DecodeHitRate => DecodeAccesses == 0 ? 0 : (double)DecodeHits / DecodeAccesses;
}

/// <summary>
/// Replays a trace through a cache of a given number of slots: under an <see cref="IEvictionPolicy"/>, driven exactly as
/// <see cref="ExpertCache"/> drives it (one clock tick per acquire, an empty slot before any victim, the lowest
/// priority among unpinned slots evicted), or under Belady's MIN, which evicts the expert used again furthest in the
/// future and so bounds every policy's hit rate from above. Experts of the group being served stay pinned; a group
/// larger than the cache is served in waves, as the executor does. No prefetch: this is the demand-only hit rate.
/// </summary>
public static class CacheSimulator
{
    public const string Belady = "belady";

    public static SimulationResult Run(TraceAccesses accesses, int slots, IEvictionPolicy? policy)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        var trace = accesses.Trace;
        int experts = trace.Shape.Experts;
        var slotKey = new int[slots];
        Array.Fill(slotKey, -1);
        var pinned = new bool[slots];
        var slotOf = new Dictionary<int, int>(slots);
        var nextOf = new int[slots]; // Belady: next use of the slot's expert
        var missesPerStep = new long[trace.Steps.Count];
        long clock = 0, hits = 0, total = 0, decodeTotal = 0, decodeHits = 0;

        for (int g = 0; g < accesses.GroupCount; g++)
        {
            var step = trace.Steps[accesses.GroupStep[g]];
            if (step.SequenceStart && IsFirstGroupOfStep(accesses, g)) policy?.OnSequenceStart();
            policy?.OnLayerStart(trace.Shape.MoeLayers[accesses.GroupLayer(g)]);
            Array.Clear(pinned);
            int pinnedCount = 0;
            for (int i = accesses.GroupStart[g]; i < accesses.GroupStart[g + 1]; i++)
            {
                int key = accesses.Keys[i];
                var expert = new ExpertKey(key / experts, key % experts);
                long now = ++clock;
                total++;
                if (step.IsDecode) decodeTotal++;
                if (slotOf.TryGetValue(key, out int s))
                {
                    hits++;
                    if (step.IsDecode) decodeHits++;
                }
                else
                {
                    missesPerStep[accesses.GroupStep[g]]++;
                    if (pinnedCount == slots)
                    {
                        // Every slot holds this group's experts: they are computed and released (the next wave).
                        Array.Clear(pinned);
                        pinnedCount = 0;
                    }
                    s = Victim(slotKey, pinned, nextOf, policy, experts, now);
                    if (slotKey[s] >= 0)
                    {
                        slotOf.Remove(slotKey[s]);
                        policy?.OnEvict(new ExpertKey(slotKey[s] / experts, slotKey[s] % experts));
                    }
                    slotKey[s] = key;
                    slotOf[key] = s;
                    policy?.OnInsert(expert, now);
                }
                if (!pinned[s])
                {
                    pinned[s] = true;
                    pinnedCount++;
                }
                nextOf[s] = accesses.NextUse[i];
                policy?.OnAccess(expert, now);
            }
        }
        return new SimulationResult(policy?.Name ?? Belady, slots, total, hits, decodeTotal, decodeHits, missesPerStep);
    }

    static bool IsFirstGroupOfStep(TraceAccesses a, int g) => g == 0 || a.GroupStep[g - 1] != a.GroupStep[g];

    static int Victim(int[] slotKey, bool[] pinned, int[] nextOf, IEvictionPolicy? policy, int experts, long now)
    {
        int best = -1;
        double bestScore = double.PositiveInfinity;
        for (int s = 0; s < slotKey.Length; s++)
        {
            if (pinned[s]) continue;
            if (slotKey[s] < 0) return s;
            // The policy keeps the highest priority; Belady keeps the soonest next use (evicts the furthest).
            double score = policy is null ? -(double)nextOf[s] : policy.Priority(new ExpertKey(slotKey[s] / experts, slotKey[s] % experts), now);
            if (score < bestScore)
            {
                bestScore = score;
                best = s;
            }
        }
        return best;
    }
}

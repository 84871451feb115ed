using System.Diagnostics;

namespace MoeSpeq.Experts;

/// <summary>
/// Live counters of the expert runtime, one object that <c>run</c>, <c>bench</c> and the server all print. Counters
/// are updated with interlocked operations from the compute and I/O threads; a <see cref="Snapshot"/> reads them.
/// </summary>
public sealed class ExpertStats
{
    internal long Hits, Misses, LateHits, BytesRead, ReadTicks, StallTicks, Accesses;
    internal long PrefetchIssued, PrefetchLoaded, PrefetchUsed, PrefetchWasted, PrefetchDropped;
    internal long PredictedTrue, Predicted, Actual;

    public readonly record struct Values(
        long Accesses, long Hits, long Misses, long LateHits, long BytesRead, TimeSpan ReadTime, TimeSpan Stall,
        long PrefetchIssued, long PrefetchLoaded, long PrefetchUsed, long PrefetchWasted, long PrefetchDropped,
        long PredictedTrue, long Predicted, long Actual)
    {
        /// <summary>Share of expert uses served from the cache with no wait: ready hits over all uses.</summary>
        public double HitRate => Accesses == 0 ? 0 : (double)Hits / Accesses;
        /// <summary>Bytes per second while reads were in flight (summed over I/O threads' busy time).</summary>
        public double ReadBandwidth => ReadTime.TotalSeconds > 0 ? BytesRead / ReadTime.TotalSeconds : 0;
        /// <summary>Of the experts predicted for a layer, the share that layer used.</summary>
        public double Precision => Predicted == 0 ? 0 : (double)PredictedTrue / Predicted;
        /// <summary>Of the experts a layer used, the share that had been predicted.</summary>
        public double Recall => Actual == 0 ? 0 : (double)PredictedTrue / Actual;

        public override string ToString() =>
            $"experts: {Accesses} uses, hit rate {HitRate:P1} ({Hits} hits, {LateHits} in flight, {Misses} misses); " +
            $"read {BytesRead / 1e6:F1} MB at {ReadBandwidth / 1e9:F2} GB/s; stall {Stall.TotalMilliseconds:F1} ms; " +
            $"prefetch {PrefetchIssued} issued, {PrefetchLoaded} loaded, {PrefetchUsed} used, {PrefetchWasted} wasted, {PrefetchDropped} dropped; " +
            $"predictor precision {Precision:P1}, recall {Recall:P1}";
    }

    public Values Snapshot() => new(
        Read(ref Accesses), Read(ref Hits), Read(ref Misses), Read(ref LateHits), Read(ref BytesRead),
        Stopwatch.GetElapsedTime(0, Read(ref ReadTicks)), Stopwatch.GetElapsedTime(0, Read(ref StallTicks)),
        Read(ref PrefetchIssued), Read(ref PrefetchLoaded), Read(ref PrefetchUsed), Read(ref PrefetchWasted), Read(ref PrefetchDropped),
        Read(ref PredictedTrue), Read(ref Predicted), Read(ref Actual));

    /// <summary>Zeroes every counter (between benchmark phases).</summary>
    public void Reset()
    {
        Hits = Misses = LateHits = BytesRead = ReadTicks = StallTicks = Accesses = 0;
        PrefetchIssued = PrefetchLoaded = PrefetchUsed = PrefetchWasted = PrefetchDropped = 0;
        PredictedTrue = Predicted = Actual = 0;
    }

    static long Read(ref long field) => Interlocked.Read(ref field);
}

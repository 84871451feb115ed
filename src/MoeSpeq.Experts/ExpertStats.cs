using System.Diagnostics;
using System.Text;

namespace MoeSpeq.Experts;

/// <summary>
/// Live counters of the expert runtime, one object that <c>run</c>, <c>bench</c> and the server all print. Counters
/// are updated with interlocked operations from the compute and I/O threads; a <see cref="Snapshot"/> reads them.
/// Predictor counts are also kept per layer (in arrays sized once at load), so a layer whose experts are hard to
/// foresee shows as itself rather than as a dip in the average.
/// </summary>
public sealed class ExpertStats
{
    internal long Hits, Misses, LateHits, BytesRead, ReadTicks, StallTicks, Accesses;
    // Wall time with at least one read in flight: bytes over it is the tier's bandwidth as reads actually used it,
    // whether one thread read or several shared the link (summed per-thread read time counts a shared link's queue).
    long _busyTicks, _busySince;
    int _inFlight;
    readonly Lock _busy = new();
    internal long PrefetchIssued, PrefetchLoaded, PrefetchUsed, PrefetchWasted, PrefetchDropped, PrefetchAbandoned;
    internal long PredictedTrue, Predicted, Actual;
    long[] _layerPredicted = [], _layerPredictedTrue = [], _layerActual = [];

    /// <summary>Speculative decoding's counters (cycles, acceptance, draft lookahead quality), when a generation speculates.</summary>
    public SpeculationStats Speculation { get; } = new();

    /// <summary>Prediction counts of one layer: experts predicted for it, of those the ones it used, and the experts it used.</summary>
    public readonly record struct LayerPrediction(long Predicted, long PredictedTrue, long Actual)
    {
        /// <summary>Of the experts predicted for the layer, the share it used.</summary>
        public double Precision => Predicted == 0 ? 0 : (double)PredictedTrue / Predicted;
        /// <summary>Of the experts the layer used, the share that had been predicted.</summary>
        public double Recall => Actual == 0 ? 0 : (double)PredictedTrue / Actual;
    }

    public readonly record struct Values(
        long Accesses, long Hits, long Misses, long LateHits, long BytesRead, TimeSpan ReadTime, TimeSpan Stall,
        long PrefetchIssued, long PrefetchLoaded, long PrefetchUsed, long PrefetchWasted, long PrefetchDropped, long PrefetchAbandoned,
        long PredictedTrue, long Predicted, long Actual, IReadOnlyList<LayerPrediction> Layers)
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
            $"prefetch {PrefetchIssued} issued, {PrefetchLoaded} loaded, {PrefetchUsed} used, {PrefetchWasted} wasted, {PrefetchDropped} dropped, {PrefetchAbandoned} abandoned part-read; " +
            $"predictor precision {Precision:P1}, recall {Recall:P1}";

        /// <summary>One line per layer that had predictions: counts, precision and recall.</summary>
        public string PerLayerText()
        {
            var text = new StringBuilder("predictor by layer: predicted, of them used, used; precision, recall");
            for (int l = 0; l < Layers.Count; l++)
            {
                var p = Layers[l];
                if (p.Predicted == 0) continue;
                text.Append($"\n  layer {l,2}: {p.Predicted,8} {p.PredictedTrue,8} {p.Actual,8}; {p.Precision,7:P1} {p.Recall,7:P1}");
            }
            return text.ToString();
        }
    }

    /// <summary>Sizes the per-layer counts; called once, when the model is loaded and before it runs.</summary>
    internal void TrackLayers(int layers)
    {
        _layerPredicted = new long[layers];
        _layerPredictedTrue = new long[layers];
        _layerActual = new long[layers];
    }

    /// <summary>
    /// A layer ran with <paramref name="predicted"/> experts predicted for it, <paramref name="predictedTrue"/> of them
    /// used, out of <paramref name="actual"/> it used. Counted only when something was predicted, so that layers a
    /// predictor cannot reach do not dilute its recall; the per-layer counts sum to the aggregate ones.
    /// </summary>
    internal void AddPredictions(int layer, long predicted, long predictedTrue, long actual)
    {
        if (predicted == 0) return;
        Interlocked.Add(ref Predicted, predicted);
        Interlocked.Add(ref PredictedTrue, predictedTrue);
        Interlocked.Add(ref Actual, actual);
        if ((uint)layer >= (uint)_layerPredicted.Length) return;
        Interlocked.Add(ref _layerPredicted[layer], predicted);
        Interlocked.Add(ref _layerPredictedTrue[layer], predictedTrue);
        Interlocked.Add(ref _layerActual[layer], actual);
    }

    /// <summary>Running totals without a snapshot's allocation, for a decode loop that measures each cycle.</summary>
    /// <remarks><c>BusyTicks</c> is the wall time with a read in flight, up to the last read that finished.</remarks>
    public (long BytesRead, long Accesses, long Hits, long ReadTicks, long StallTicks, long BusyTicks) Totals =>
        (Read(ref BytesRead), Read(ref Accesses), Read(ref Hits), Read(ref ReadTicks), Read(ref StallTicks), Read(ref _busyTicks));

    /// <summary>A read from the slow tier starts (I/O threads).</summary>
    internal void BeginRead()
    {
        lock (_busy)
            if (_inFlight++ == 0) _busySince = Stopwatch.GetTimestamp();
    }

    /// <summary>A read from the slow tier ends, done or failed.</summary>
    internal void EndRead()
    {
        lock (_busy)
            if (--_inFlight == 0) Interlocked.Add(ref _busyTicks, Stopwatch.GetTimestamp() - _busySince);
    }

    public Values Snapshot()
    {
        var layers = new LayerPrediction[_layerPredicted.Length];
        for (int l = 0; l < layers.Length; l++)
            layers[l] = new(Read(ref _layerPredicted[l]), Read(ref _layerPredictedTrue[l]), Read(ref _layerActual[l]));
        return new(
            Read(ref Accesses), Read(ref Hits), Read(ref Misses), Read(ref LateHits), Read(ref BytesRead),
            Stopwatch.GetElapsedTime(0, Read(ref ReadTicks)), Stopwatch.GetElapsedTime(0, Read(ref StallTicks)),
            Read(ref PrefetchIssued), Read(ref PrefetchLoaded), Read(ref PrefetchUsed), Read(ref PrefetchWasted), Read(ref PrefetchDropped), Read(ref PrefetchAbandoned),
            Read(ref PredictedTrue), Read(ref Predicted), Read(ref Actual), layers);
    }

    /// <summary>Zeroes every counter (between benchmark phases).</summary>
    public void Reset()
    {
        Hits = Misses = LateHits = BytesRead = ReadTicks = StallTicks = Accesses = 0;
        Interlocked.Exchange(ref _busyTicks, 0);
        PrefetchIssued = PrefetchLoaded = PrefetchUsed = PrefetchWasted = PrefetchDropped = PrefetchAbandoned = 0;
        PredictedTrue = Predicted = Actual = 0;
        Array.Clear(_layerPredicted);
        Array.Clear(_layerPredictedTrue);
        Array.Clear(_layerActual);
        Speculation.Reset();
    }

    static long Read(ref long field) => Interlocked.Read(ref field);
}

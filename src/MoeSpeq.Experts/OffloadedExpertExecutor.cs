using System.Diagnostics;
using MoeSpeq.Experts.Prediction;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts;

/// <summary>
/// Runs routed experts out of the <see cref="ExpertCache"/>: pins every expert a layer needs (hits are used as they
/// are, misses are read on the I/O threads ahead of every prefetch), lets the predictor queue prefetches for later
/// layers, then computes experts in the order they become ready, waiting only when none is. Outputs are combined
/// in slot order, so the result is bit-identical to the resident executor whatever was cached. A cancelled
/// generation stops waiting at once; its reads are cancelled with it and its pins released.
/// </summary>
public sealed class OffloadedExpertExecutor : IExpertExecutor, ICancellableExpertExecutor, IPrefetchSink, IDisposable
{
    readonly ExpertCatalog _catalog;
    readonly ExpertCache _cache;
    readonly ExpertOrchestrator _orchestrator;
    readonly IExpertPredictor? _predictor;
    readonly ExpertStats _stats;
    readonly ExpertFfn _ffn;
    readonly ExpertGrouping _grouping;
    readonly int _dim;
    readonly int[] _slotOfExpert;     // [experts] this call's slot per expert id, or −1
    readonly int[] _pending;          // expert ids not yet computed
    readonly ExpertWeights[] _batch;  // ready experts computed together
    readonly int[] _batchIds;
    readonly int[] _rowStart;
    readonly bool[] _predicted;       // [layer·experts + expert]: predicted for its layer's next run
    float[] _gathered, _expertOut, _slotOut;
    CancellationToken _cancel;
    CancellationTokenRegistration _onCancel;
    readonly Tracing.StepTracker _steps = new();
    int _layer;

    public OffloadedExpertExecutor(ExpertLayout layout, ExpertCatalog catalog, ExpertCache cache, ExpertOrchestrator orchestrator,
        IExpertPredictor? predictor, ExpertStats stats, int capacity)
    {
        _catalog = catalog;
        _cache = cache;
        _orchestrator = orchestrator;
        _predictor = predictor;
        _stats = stats;
        int experts = layout.Config.ExpertCount;
        _dim = layout.Config.EmbeddingLength;
        _ffn = layout.CreateFfn(capacity);
        _grouping = new ExpertGrouping(experts, capacity);
        _slotOfExpert = new int[experts];
        _pending = new int[experts];
        _batch = new ExpertWeights[experts];
        _batchIds = new int[experts];
        _rowStart = new int[experts + 1];
        _predicted = new bool[catalog.Layers * experts];
        _gathered = new float[capacity * _dim];
        _expertOut = new float[capacity * _dim];
        _slotOut = new float[capacity * _dim];
    }

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        _cancel.ThrowIfCancellationRequested();
        int dim = _dim, slots = tokens * k;
        if (_slotOut.Length < slots * dim)
        {
            _slotOut = new float[slots * dim];
            _gathered = new float[slots * dim];
            _expertOut = new float[slots * dim];
        }
        _steps.Advance(layer, tokens, out _);
        _layer = layer;
        _orchestrator.Advance(_steps.Steps, layer);
        _cache.BeginLayer(layer);
        _grouping.Build(ids, tokens, k);

        // A batch may route to more experts than the cache has slots: then the experts pinned so far are computed
        // and released before the next are acquired, in as many waves as the budget needs.
        int pending = 0;
        Array.Fill(_slotOfExpert, -1);
        try
        {
            for (int e = 0; e < _grouping.ExpertCount; e++)
            {
                if (_grouping.SlotsOf(e).IsEmpty) continue;
                var key = new ExpertKey(layer, e);
                int slot = _cache.TryAcquire(key, out var found);
                if (slot < 0)
                {
                    Drain(hidden, ref pending, k);
                    slot = _cache.Acquire(key, out found);
                }
                _slotOfExpert[e] = slot;
                _pending[pending++] = e;
                Interlocked.Increment(ref _stats.Accesses);
                switch (found)
                {
                    case ExpertCache.Lookup.Ready: Interlocked.Increment(ref _stats.Hits); break;
                    case ExpertCache.Lookup.Loading: Interlocked.Increment(ref _stats.LateHits); break;
                    default:
                        Interlocked.Increment(ref _stats.Misses);
                        _orchestrator.Demand(key, slot);
                        break;
                }
            }
            _orchestrator.Routed(_steps.Steps, layer);
            ScorePredictions(layer);
            _predictor?.Observe(layer, residual, ids, tokens, k, this);
            Drain(hidden, ref pending, k);
        }
        finally
        {
            ReleaseAll();
        }
        ResidentExpertExecutor.Combine(_slotOut, weights, tokens, k, dim, output);
    }

    /// <summary>A new request: the cache's per-sequence policy state (activation counts) starts over.</summary>
    public void OnSequenceStart()
    {
        _steps.OnSequenceStart();
        _cache.OnSequenceStart();
    }

    /// <summary>Computes every pending expert, each batch as soon as some are ready, then releases their slots.</summary>
    void Drain(ReadOnlySpan<float> hidden, ref int pending, int k)
    {
        while (pending > 0)
        {
            int ready = TakeReady(ref pending);
            if (ready == 0)
            {
                long t0 = Stopwatch.GetTimestamp();
                _cache.WaitReady(_slotOfExpert[_pending[0]], _cancel);
                Interlocked.Add(ref _stats.StallTicks, Stopwatch.GetTimestamp() - t0);
                continue;
            }
            ComputeBatch(hidden, ready, k);
        }
        ReleaseAll();
    }

    void ReleaseAll()
    {
        for (int e = 0; e < _slotOfExpert.Length; e++)
        {
            if (_slotOfExpert[e] < 0) continue;
            _cache.Release(_slotOfExpert[e]);
            _slotOfExpert[e] = -1;
        }
    }

    /// <summary>Moves the pending experts whose slots are ready into the batch; returns how many.</summary>
    int TakeReady(ref int pending)
    {
        int ready = 0, kept = 0;
        for (int i = 0; i < pending; i++)
        {
            int e = _pending[i];
            if (_cache.IsReady(_slotOfExpert[e])) _batchIds[ready++] = e;
            else _pending[kept++] = e;
        }
        pending = kept;
        return ready;
    }

    /// <summary>Computes the <paramref name="count"/> experts in the batch over their rows of hidden, into their slots' outputs.</summary>
    unsafe void ComputeBatch(ReadOnlySpan<float> hidden, int count, int k)
    {
        int dim = _dim, row = 0;
        for (int i = 0; i < count; i++)
        {
            int e = _batchIds[i];
            int slot = _slotOfExpert[e];
            _cache.WaitReady(slot, _cancel); // ready already; surfaces a failed load as its error
            _batch[i] = _catalog.Weights(new ExpertKey(_layer, e), _cache.SlotMemory(slot));
            _rowStart[i] = row;
            foreach (int s in _grouping.SlotsOf(e))
                hidden.Slice(s / k * dim, dim).CopyTo(_gathered.AsSpan(row++ * dim, dim));
        }
        _rowStart[count] = row;
        _ffn.Compute(_batch.AsSpan(0, count), _rowStart.AsSpan(0, count + 1), _gathered.AsSpan(0, row * dim), _expertOut.AsSpan(0, row * dim));
        row = 0;
        for (int i = 0; i < count; i++)
            foreach (int s in _grouping.SlotsOf(_batchIds[i]))
                _expertOut.AsSpan(row++ * dim, dim).CopyTo(_slotOut.AsSpan(s * dim, dim));
    }

    /// <summary>Scores the predictions made for this layer against what it used, then forgets them.</summary>
    void ScorePredictions(int layer)
    {
        int experts = _slotOfExpert.Length;
        var predicted = _predicted.AsSpan(layer * experts, experts);
        int made = 0, right = 0, used = 0;
        for (int e = 0; e < experts; e++)
        {
            bool usedNow = !_grouping.SlotsOf(e).IsEmpty;
            if (usedNow) used++;
            if (!predicted[e]) continue;
            made++;
            if (usedNow) right++;
        }
        _stats.AddPredictions(layer, made, right, used);
        predicted.Clear();
    }

    /// <summary>A predictor's guess: recorded for scoring, and handed to the orchestrator as a prefetch.</summary>
    void IPrefetchSink.Predict(ExpertKey key, int layersAhead, float confidence)
    {
        if ((uint)key.Layer >= (uint)_catalog.Layers || (uint)key.Expert >= (uint)_slotOfExpert.Length) return;
        _predicted[key.Layer * _slotOfExpert.Length + key.Expert] = true;
        _cache.Expect(key, confidence);
        long step = key.Layer > _layer ? _steps.Steps : _steps.Steps + 1;
        _orchestrator.Prefetch(key, _orchestrator.PositionOf(step, key.Layer), confidence);
    }

    public void Observe(CancellationToken cancel)
    {
        _cancel = cancel;
        // The reads stop as soon as the token is set, not when compute next looks: a load the generation no longer
        // needs may otherwise hold an I/O thread, and a prefetch's pin the slot compute waits to take.
        _onCancel = cancel.Register(static o => ((ExpertOrchestrator)o!).CancelReads(), _orchestrator);
    }

    public void EndObserving()
    {
        _onCancel.Dispose(); // waits for a callback in progress
        if (_cancel.IsCancellationRequested)
        {
            // Forward released its pins as it unwound; what remains are reads, and predictions no layer will score.
            _orchestrator.EndCancellation();
            _predicted.AsSpan().Clear();
            _cache.ClearExpectations();
        }
        _cancel = default;
        _onCancel = default;
    }

    /// <summary>Stops the I/O threads, then frees the cache and closes the tier.</summary>
    public void Dispose()
    {
        _orchestrator.Dispose();
        _cache.Dispose();
        _orchestrator.Tier.Dispose();
    }
}

using System.Diagnostics;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts;

/// <summary>
/// Moves experts from the slow tier into cache slots on a few I/O threads, off the compute thread. Requests are
/// served by priority: demand misses first (compute is waiting on them), then prefetches by predicted time of need
/// (sooner first) and confidence. A prefetch already queued is not queued again, one for an expert already cached
/// or in flight is dropped, and one whose layer has already run is dropped as stale when it reaches the front.
/// </summary>
public sealed unsafe class ExpertOrchestrator : IDisposable
{
    readonly record struct Request(ExpertKey Key, int Slot, long NeededAt);

    const long DemandClass = 0;
    const long PrefetchClass = 1L << 60;
    // Confidence in [0, 1] orders prefetches needed at the same position in this many steps.
    const int ConfidenceSteps = 1024;

    readonly ExpertCache _cache;
    readonly ExpertCatalog _catalog;
    readonly ISlowTier _tier;
    readonly ExpertStats _stats;
    readonly PriorityQueue<Request, long> _queue = new(256);
    readonly bool[] _queued; // [layer·experts + expert]: a prefetch for it waits in the queue
    readonly Thread[] _threads;
    readonly CancellationTokenSource _stop = new();
    readonly object _lock = new();
    long _demandOrder;
    long _position; // step·layers + layer of the forward pass now running

    public ExpertOrchestrator(ExpertCache cache, ExpertCatalog catalog, ISlowTier tier, int ioThreads, ExpertStats stats)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ioThreads, 1);
        _cache = cache;
        _catalog = catalog;
        _tier = tier;
        _stats = stats;
        _queued = new bool[catalog.Layers * catalog.ExpertsPerLayer];
        _threads = new Thread[ioThreads];
        for (int i = 0; i < ioThreads; i++)
        {
            _threads[i] = new Thread(IoLoop) { IsBackground = true, Name = $"moespeq-io-{i + 1}" };
            _threads[i].Start();
        }
    }

    public ISlowTier Tier => _tier;
    public int IoThreads => _threads.Length;

    /// <summary>Position of a layer of a decode step on one time line, for ordering prefetches by time of need.</summary>
    public long PositionOf(long step, int layer) => step * _catalog.Layers + layer;

    /// <summary>The forward pass is now at <paramref name="step"/>, <paramref name="layer"/>: prefetches for earlier positions are stale.</summary>
    public void Advance(long step, int layer) => Volatile.Write(ref _position, PositionOf(step, layer));

    /// <summary>Loads <paramref name="key"/> into the slot <see cref="ExpertCache.Acquire"/> reserved for it, ahead of every prefetch.</summary>
    public void Demand(ExpertKey key, int slot)
    {
        lock (_lock)
        {
            _queue.Enqueue(new Request(key, slot, -1), DemandClass + _demandOrder++);
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>Asks for <paramref name="key"/> to be cached before position <paramref name="neededAt"/> (<see cref="PositionOf"/>).</summary>
    public void Prefetch(ExpertKey key, long neededAt, float confidence)
    {
        int index = key.Layer * _catalog.ExpertsPerLayer + key.Expert;
        lock (_lock)
        {
            if (_queued[index]) return;
            _queued[index] = true;
            long rank = (long)((1 - Math.Clamp(confidence, 0f, 1f)) * (ConfidenceSteps - 1));
            _queue.Enqueue(new Request(key, -1, neededAt), PrefetchClass + neededAt * ConfidenceSteps + rank);
            Interlocked.Increment(ref _stats.PrefetchIssued);
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>Drops every queued prefetch (a cancelled generation); loads already reading finish into their slots.</summary>
    public void CancelPrefetches()
    {
        lock (_lock)
        {
            var keep = new List<(Request, long)>();
            while (_queue.TryDequeue(out var r, out long p))
            {
                if (r.Slot >= 0) keep.Add((r, p));
                else
                {
                    _queued[r.Key.Layer * _catalog.ExpertsPerLayer + r.Key.Expert] = false;
                    Interlocked.Increment(ref _stats.PrefetchDropped);
                }
            }
            foreach (var (r, p) in keep) _queue.Enqueue(r, p);
        }
    }

    void IoLoop()
    {
        var cancel = _stop.Token;
        while (!cancel.IsCancellationRequested)
        {
            Request request;
            lock (_lock)
            {
                while (!_queue.TryDequeue(out request, out _))
                {
                    if (cancel.IsCancellationRequested) return;
                    Monitor.Wait(_lock);
                }
                if (request.Slot < 0) _queued[request.Key.Layer * _catalog.ExpertsPerLayer + request.Key.Expert] = false;
            }
            bool prefetch = request.Slot < 0;
            int slot = request.Slot;
            if (prefetch)
            {
                if (request.NeededAt <= Volatile.Read(ref _position) || (slot = _cache.ReserveForPrefetch(request.Key)) < 0)
                {
                    Interlocked.Increment(ref _stats.PrefetchDropped);
                    continue;
                }
            }
            Exception? error = null;
            try { Load(request.Key, slot, cancel); }
            catch (Exception e) { error = e; }
            if (prefetch && error is null) Interlocked.Increment(ref _stats.PrefetchLoaded);
            _cache.Complete(slot, error, prefetch);
        }
    }

    void Load(ExpertKey key, int slot, CancellationToken cancel)
    {
        byte* memory = _cache.SlotMemory(slot);
        long start = Stopwatch.GetTimestamp();
        long bytes = 0;
        foreach (var read in _catalog.ReadsOf(key))
        {
            _tier.Read(read.FileOffset, read.Length, memory + read.SlotOffset, cancel);
            bytes += read.Length;
        }
        Interlocked.Add(ref _stats.ReadTicks, Stopwatch.GetTimestamp() - start);
        Interlocked.Add(ref _stats.BytesRead, bytes);
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_lock) Monitor.PulseAll(_lock);
        foreach (var t in _threads) t.Join();
        _stop.Dispose();
    }
}

using System.Diagnostics;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts;

/// <summary>
/// Moves experts from the slow tier into cache slots on a few I/O threads, off the compute thread. Requests are
/// served by priority: demand misses first (compute is waiting on them), then prefetches by predicted time of need
/// (sooner first) and confidence. A prefetch already queued is not queued again, one for an expert already cached
/// or in flight is dropped, and one whose layer has already run is dropped as stale when it reaches the front.
/// A prefetch is read in pieces, and once its layer has pinned the experts it routed to without it, the rest of the
/// read is abandoned: on a disk or link that is the bottleneck, a wrong guess then costs the bytes read before the
/// routing was known, not the whole expert.
/// Prefetches never occupy every I/O thread: one is always free for a demand miss, which would otherwise wait behind
/// whole expert reads that compute is not waiting for.
/// A cancelled generation's reads are cancelled with it (<see cref="CancelReads"/>, <see cref="EndCancellation"/>).
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
    readonly object _lock = new();
    // The token every read observes: cancelled with a generation (or at disposal), replaced once its reads are over.
    CancellationTokenSource _reads = new();
    int _inFlight;
    int _prefetchesInFlight;
    readonly int _prefetchLimit;
    readonly long _prefetchPiece; // bytes a prefetch reads between checks that it is still wanted
    bool _stopped;
    long _demandOrder;
    // Demand loads being read: while any is, prefetch reads pause between pieces. Queued ones do not count: one
    // thread is kept free for them, except with a single I/O thread, where a paused prefetch would hold it forever.
    int _demands;
    long _position; // step·layers + layer of the forward pass now running
    long _routedThrough = -1; // the last position whose experts are all pinned

    public ExpertOrchestrator(ExpertCache cache, ExpertCatalog catalog, ISlowTier tier, int ioThreads, ExpertStats stats, long prefetchPiece = 4 << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ioThreads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetchPiece, 1);
        _prefetchPiece = Math.Max(prefetchPiece / tier.Alignment, 1) * tier.Alignment;
        _cache = cache;
        _catalog = catalog;
        _tier = tier;
        _stats = stats;
        _queued = new bool[catalog.Layers * catalog.ExpertsPerLayer];
        _prefetchLimit = Math.Max(1, ioThreads - 1);
        _threads = new Thread[ioThreads];
        for (int i = 0; i < ioThreads; i++)
        {
            _threads[i] = new Thread(IoLoop) { IsBackground = true, Name = $"moespeq-io-{i + 1}" };
            _threads[i].Start();
        }
    }

    public ISlowTier Tier => _tier;
    public int IoThreads => _threads.Length;

    /// <summary>Requests waiting for an I/O thread.</summary>
    public int QueuedCount
    {
        get { lock (_lock) return _queue.Count; }
    }

    /// <summary>Position of a layer of a decode step on one time line, for ordering prefetches by time of need.</summary>
    public long PositionOf(long step, int layer) => step * _catalog.Layers + layer;

    /// <summary>The forward pass is now at <paramref name="step"/>, <paramref name="layer"/>: prefetches for earlier positions are stale.</summary>
    public void Advance(long step, int layer) => Volatile.Write(ref _position, PositionOf(step, layer));

    /// <summary>
    /// The forward pass at <paramref name="step"/>, <paramref name="layer"/> has pinned every expert it routed to: a
    /// prefetch for this position or an earlier one that it did not pin was a wrong guess, and its read is abandoned.
    /// </summary>
    public void Routed(long step, int layer)
    {
        lock (_lock)
        {
            _routedThrough = PositionOf(step, layer);
            Monitor.PulseAll(_lock); // paused prefetches look again: some may be wrong now
        }
    }

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

    /// <summary>
    /// A generation was cancelled: drops every queued prefetch, fails every queued demand load with
    /// <see cref="OperationCanceledException"/> (which empties its slot rather than leaving it loading), and asks
    /// the reads in flight to stop. Returns at once and may run on any thread (a cancellation callback); reads stay
    /// cancelled until <see cref="EndCancellation"/>.
    /// </summary>
    public void CancelReads()
    {
        List<int>? demands = null;
        CancellationToken cancelled;
        lock (_lock)
        {
            if (_stopped) return;
            // Under the lock, so that EndCancellation cannot replace the source in between.
            _reads.Cancel();
            cancelled = _reads.Token;
            Monitor.PulseAll(_lock); // paused prefetch reads see the cancellation
            while (_queue.TryDequeue(out var r, out _))
            {
                if (r.Slot >= 0) (demands ??= []).Add(r.Slot);
                else
                {
                    _queued[r.Key.Layer * _catalog.ExpertsPerLayer + r.Key.Expert] = false;
                    Interlocked.Increment(ref _stats.PrefetchDropped);
                }
            }
        }
        if (demands is null) return;
        foreach (int slot in demands) _cache.Complete(slot, new OperationCanceledException("the generation was cancelled", cancelled), prefetch: false);
    }

    /// <summary>
    /// Once a cancelled generation's compute has stopped: cancels what it queued after the cancellation, waits until
    /// none of its reads is in flight (each ends at the tier's next cancellation check), then lets reads run again.
    /// </summary>
    public void EndCancellation()
    {
        CancelReads();
        lock (_lock)
        {
            while (_inFlight > 0) Monitor.Wait(_lock);
            if (_stopped) return;
            _reads.Dispose();
            _reads = new CancellationTokenSource();
        }
    }

    void IoLoop()
    {
        while (true)
        {
            Request request = default;
            CancellationToken cancel;
            lock (_lock)
            {
                // Demands sort first, so a prefetch at the head means none is waiting.
                while (!_stopped && !(_queue.TryPeek(out request, out _) && (request.Slot >= 0 || _prefetchesInFlight < _prefetchLimit)))
                    Monitor.Wait(_lock);
                if (_stopped) return;
                _queue.Dequeue();
                if (request.Slot < 0)
                {
                    _queued[request.Key.Layer * _catalog.ExpertsPerLayer + request.Key.Expert] = false;
                    _prefetchesInFlight++;
                }
                else _demands++;
                cancel = _reads.Token;
                _inFlight++;
            }
            try { Serve(request, cancel); }
            finally
            {
                lock (_lock)
                {
                    bool wasPrefetch = request.Slot < 0;
                    if (wasPrefetch) _prefetchesInFlight--;
                    bool lastDemand = !wasPrefetch && --_demands == 0;
                    // Wakes EndCancellation, I/O threads held back by the prefetch limit, and paused prefetch reads.
                    if (--_inFlight == 0 || wasPrefetch || lastDemand) Monitor.PulseAll(_lock);
                }
            }
        }
    }

    void Serve(Request request, CancellationToken cancel)
    {
        bool prefetch = request.Slot < 0;
        int slot = request.Slot;
        if (prefetch)
        {
            if (cancel.IsCancellationRequested || request.NeededAt <= Volatile.Read(ref _position) || (slot = _cache.ReserveForPrefetch(request.Key)) < 0)
            {
                Interlocked.Increment(ref _stats.PrefetchDropped);
                return;
            }
        }
        Exception? error = null;
        try
        {
            if (!Load(request.Key, slot, prefetch ? request.NeededAt : long.MaxValue, cancel))
            {
                Interlocked.Increment(ref _stats.PrefetchAbandoned);
                return;
            }
        }
        catch (Exception e) { error = e; }
        if (prefetch && error is null) Interlocked.Increment(ref _stats.PrefetchLoaded);
        _cache.Complete(slot, error, prefetch);
    }

    /// <summary>
    /// Reads <paramref name="key"/> into its slot; false if the read was abandoned part way because the pass at
    /// <paramref name="neededAt"/> routed without it (<see cref="ExpertCache.TryAbandonPrefetch"/> emptied the slot).
    /// </summary>
    bool Load(ExpertKey key, int slot, long neededAt, CancellationToken cancel)
    {
        byte* memory = _cache.SlotMemory(slot);
        long start = Stopwatch.GetTimestamp();
        long bytes = 0;
        bool abandonable = neededAt != long.MaxValue;
        _stats.BeginRead();
        try
        {
            foreach (var read in _catalog.ReadsOf(key))
            {
                for (long done = 0; done < read.Length;)
                {
                    cancel.ThrowIfCancellationRequested();
                    if (abandonable && !AwaitPrefetchTurn(slot, neededAt, cancel, out abandonable)) return false;
                    long length = abandonable ? Math.Min(_prefetchPiece, read.Length - done) : read.Length - done;
                    _tier.Read(read.File, read.FileOffset + done, length, memory + read.SlotOffset + done, cancel);
                    done += length;
                    bytes += length;
                }
            }
        }
        finally
        {
            _stats.EndRead();
            Interlocked.Add(ref _stats.ReadTicks, Stopwatch.GetTimestamp() - start);
            Interlocked.Add(ref _stats.BytesRead, bytes);
        }
        return true;
    }

    /// <summary>
    /// Before a prefetch reads its next piece: false if its layer routed without it (the slot is then abandoned).
    /// While demand loads are pending it waits: a demand is what compute is stalled on, and on a link that is the
    /// bottleneck a prefetch read beside it only slows it down; a paused prefetch reads when compute runs instead.
    /// Once its own layer has pinned it, it is a demand too: <paramref name="stillPrefetch"/> turns false and it
    /// reads to the end.
    /// </summary>
    bool AwaitPrefetchTurn(int slot, long neededAt, CancellationToken cancel, out bool stillPrefetch)
    {
        stillPrefetch = true;
        lock (_lock)
        {
            while (true)
            {
                if (neededAt <= _routedThrough)
                {
                    if (_cache.TryAbandonPrefetch(slot)) return false;
                    stillPrefetch = false;
                    return true;
                }
                if (_demands == 0 || _stopped || cancel.IsCancellationRequested) return true;
                Monitor.Wait(_lock);
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _stopped = true;
            _reads.Cancel();
            Monitor.PulseAll(_lock);
        }
        foreach (var t in _threads) t.Join();
        _reads.Dispose();
    }
}

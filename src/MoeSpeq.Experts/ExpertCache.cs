using MoeSpeq.Experts.Eviction;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Experts;

/// <summary>
/// The fast tier: a fixed number of equal slots carved from one block of memory (so the budget is exact and never
/// fragments), a map from expert to slot, and pins. A pinned slot (in use by a forward pass, or being filled) is
/// never evicted; among the rest the <see cref="IEvictionPolicy"/> picks the victim of a demand load. Eviction is
/// lookahead-aware: an expert a predictor expects at a layer still to run this step is evicted only when nothing else
/// can be, and a prefetch takes the slot of the expert whose next use is expected furthest away
/// (<see cref="NextUseEstimate"/>), only if the guess is expected sooner: on a slow link a wrong guess that displaced
/// a useful expert costs two reads. All state changes happen under one lock; waiting for a load is per slot, so
/// compute waits only for the experts it needs.
/// </summary>
public sealed unsafe class ExpertCache : IDisposable
{
    enum State : byte { Empty, Loading, Ready }

    struct Slot
    {
        public ExpertKey Key;
        public State State;
        public int Pins;
        public bool Prefetched; // filled by a prefetch…
        public bool Used;       // …and used since
        public Exception? Error;
    }

    /// <summary>What <see cref="Acquire"/> found.</summary>
    public enum Lookup { Ready, Loading, Reserved }

    readonly object _lock = new();
    readonly Slot[] _slots;
    readonly ManualResetEventSlim[] _ready;
    readonly int[] _slotOf; // [layer·experts + expert] → slot, or −1
    readonly bool[] _expected; // [layer·experts + expert] predicted for its layer's next run, which has not begun
    readonly int _expertsPerLayer;
    readonly WeightArena _memory;
    readonly byte* _base;
    readonly IEvictionPolicy _policy;
    readonly NextUseEstimate _nextUse; // ranks slots for prefetches, whatever the policy
    readonly ExpertStats _stats;
    long _clock;

    /// <param name="expertsUsed">The router's k, the prior of the next-use estimate (0: unknown).</param>
    public ExpertCache(int slots, long slotBytes, int layers, int expertsPerLayer, IEvictionPolicy policy, ExpertStats stats, int expertsUsed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        SlotCount = slots;
        SlotBytes = slotBytes;
        _expertsPerLayer = expertsPerLayer;
        _policy = policy;
        _nextUse = new NextUseEstimate(layers, expertsPerLayer, expertsUsed);
        _stats = stats;
        _slots = new Slot[slots];
        _ready = new ManualResetEventSlim[slots];
        for (int i = 0; i < slots; i++) _ready[i] = new ManualResetEventSlim(false, spinCount: 200);
        _slotOf = new int[layers * expertsPerLayer];
        Array.Fill(_slotOf, -1);
        _expected = new bool[layers * expertsPerLayer];
        _memory = new WeightArena(slots * slotBytes);
        _base = _memory.Allocate(slots * slotBytes);
        _memory.Populate(); // slots are filled by direct reads: committed now, not on a forward pass's first miss
    }

    public int SlotCount { get; }
    public long SlotBytes { get; }
    public string PolicyName => _policy.Name;

    /// <summary>First byte of a slot.</summary>
    public byte* SlotMemory(int slot) => _base + slot * SlotBytes;

    /// <summary>Experts resident and ready now.</summary>
    public int ReadyCount
    {
        get { lock (_lock) return _slots.Count(s => s.State == State.Ready); }
    }

    /// <summary>Slots pinned now (by a forward pass or a load); none once every generation has ended or stopped.</summary>
    public int PinnedCount
    {
        get { lock (_lock) return _slots.Count(s => s.Pins > 0); }
    }

    /// <summary>Slots being filled now; a load that fails or is cancelled empties its slot, so none stays loading for good.</summary>
    public int LoadingCount
    {
        get { lock (_lock) return _slots.Count(s => s.State == State.Loading); }
    }

    /// <summary>Whether <paramref name="key"/> is cached and ready.</summary>
    public bool Contains(ExpertKey key)
    {
        lock (_lock) return _slotOf[Index(key)] is int s and >= 0 && _slots[s].State == State.Ready;
    }

    /// <summary>
    /// Pins <paramref name="key"/> for use by a forward pass: its slot if it is cached or being filled, else a slot
    /// taken from the policy's victim (<see cref="Lookup.Reserved"/>: the caller must have it loaded). Waits while
    /// every slot is pinned, so the caller must hold no pins of its own (else see <see cref="TryAcquire"/>).
    /// </summary>
    public int Acquire(ExpertKey key, out Lookup found) => Acquire(key, wait: true, out found);

    /// <summary>As <see cref="Acquire(ExpertKey, out Lookup)"/>, but −1 instead of waiting when every slot is pinned.</summary>
    public int TryAcquire(ExpertKey key, out Lookup found) => Acquire(key, wait: false, out found);

    int Acquire(ExpertKey key, bool wait, out Lookup found)
    {
        int index = Index(key);
        lock (_lock)
        {
            long now = ++_clock;
            while (true)
            {
                int s = _slotOf[index];
                if (s >= 0)
                {
                    ref var slot = ref _slots[s];
                    slot.Pins++;
                    found = slot.State == State.Ready ? Lookup.Ready : Lookup.Loading;
                    if (slot.Prefetched && !slot.Used) Interlocked.Increment(ref _stats.PrefetchUsed);
                    slot.Used = true;
                    _policy.OnAccess(key, now);
                    _nextUse.OnAccess(key);
                    return s;
                }
                int victim = Victim(prefetchOf: null);
                if (victim >= 0)
                {
                    Assign(victim, key, prefetched: false, now);
                    _policy.OnAccess(key, now);
                    _nextUse.OnAccess(key);
                    found = Lookup.Reserved;
                    return victim;
                }
                if (!wait)
                {
                    found = default;
                    return -1;
                }
                Monitor.Wait(_lock);
            }
        }
    }

    /// <summary>
    /// Takes a slot for a prefetch of <paramref name="key"/>, pinned until <see cref="Complete"/>; −1 when the expert
    /// is already cached or in flight, or when no slot may be taken: a prefetch never waits, never evicts an expert
    /// in use or expected this step, and takes a slot only if the policy admits the guess over its occupant.
    /// </summary>
    public int ReserveForPrefetch(ExpertKey key)
    {
        lock (_lock)
        {
            if (_slotOf[Index(key)] >= 0) return -1;
            int victim = Victim(prefetchOf: key);
            if (victim < 0) return -1;
            Assign(victim, key, prefetched: true, ++_clock);
            return victim;
        }
    }

    /// <summary>
    /// Marks a load finished; on failure (a cancelled load included) the slot is emptied and its waiters get the
    /// error. Drops the loader's pin of a prefetch; a demand load's pin belongs to the forward pass that asked.
    /// </summary>
    public void Complete(int slot, Exception? error, bool prefetch)
    {
        lock (_lock)
        {
            ref var s = ref _slots[slot];
            if (error is null) s.State = State.Ready;
            else
            {
                s.Error = error;
                s.State = State.Empty;
                _slotOf[Index(s.Key)] = -1;
                _policy.OnEvict(s.Key);
            }
            if (prefetch) s.Pins--;
            _ready[slot].Set();
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// Gives up a prefetch still being read whose expert no forward pass has pinned: the slot empties at once, so the
    /// rest of the read is never made and another load may take it. False when a pass is using or waiting for the
    /// expert (then the load must finish). Only the I/O thread filling <paramref name="slot"/>, between two pieces
    /// of its read, may call this: once it returns true that thread must not write the slot again.
    /// </summary>
    public bool TryAbandonPrefetch(int slot)
    {
        lock (_lock)
        {
            ref var s = ref _slots[slot];
            if (s.State != State.Loading || !s.Prefetched || s.Pins != 1) return false;
            s.State = State.Empty;
            s.Pins = 0;
            _slotOf[Index(s.Key)] = -1;
            _policy.OnEvict(s.Key);
            _ready[slot].Set();
            Monitor.PulseAll(_lock);
            return true;
        }
    }

    public bool IsReady(int slot) => _ready[slot].IsSet;

    /// <summary>
    /// Blocks until the slot's load ends; rethrows its failure. Throws <see cref="OperationCanceledException"/>
    /// once <paramref name="cancel"/> is set, whether the load has ended or not.
    /// </summary>
    public void WaitReady(int slot, CancellationToken cancel)
    {
        _ready[slot].Wait(cancel);
        lock (_lock)
        {
            ref var s = ref _slots[slot];
            if (s.State == State.Ready) return;
            if (s.Error is OperationCanceledException) throw new OperationCanceledException($"loading {s.Key} was cancelled", s.Error, cancel);
            throw new IOException($"loading an expert failed: {s.Error?.Message}", s.Error);
        }
    }

    /// <summary>Drops a forward pass's pin.</summary>
    public void Release(int slot)
    {
        lock (_lock)
        {
            _slots[slot].Pins--;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// A forward pass reaches <paramref name="layer"/>: the predictions for it are spent (its experts are pinned as
    /// it acquires them), and the policy learns where the pass is.
    /// </summary>
    public void BeginLayer(int layer)
    {
        lock (_lock)
        {
            _expected.AsSpan(layer * _expertsPerLayer, _expertsPerLayer).Clear();
            _policy.OnLayerStart(layer);
            _nextUse.OnLayerStart(layer);
        }
    }

    /// <summary>A predictor expects <paramref name="key"/> at its layer's next run: keep it, unless nothing else can go.</summary>
    public void Expect(ExpertKey key, float confidence)
    {
        lock (_lock)
        {
            _expected[Index(key)] = true;
            _policy.OnPredicted(key, confidence);
            _nextUse.OnPredicted(key, confidence);
        }
    }

    /// <summary>Forgets every prediction (a cancelled generation's layers will not run).</summary>
    public void ClearExpectations()
    {
        lock (_lock)
        {
            _expected.AsSpan().Clear();
            _nextUse.ClearPredictions();
        }
    }

    /// <summary>Per-sequence policy state resets (a new request).</summary>
    public void OnSequenceStart()
    {
        lock (_lock) _policy.OnSequenceStart();
    }

    int Index(ExpertKey key) => key.Layer * _expertsPerLayer + key.Expert;

    /// <summary>
    /// The slot a demand load takes (<paramref name="prefetchOf"/> null): an empty unpinned slot, else the unpinned
    /// ready slot of lowest policy priority among the experts not expected this step, else among the expected ones.
    /// The slot a prefetch takes: an empty unpinned slot, else the unpinned, unexpected expert whose next use is
    /// expected furthest away, and only if that is further than the guess's; the eviction policy ranks what was
    /// used, the look-ahead alone can weigh a guess. −1 if none. Under the lock.
    /// </summary>
    int Victim(ExpertKey? prefetchOf)
    {
        int best = -1, bestExpected = -1;
        double bestScore = double.PositiveInfinity, bestExpectedScore = double.PositiveInfinity;
        for (int i = 0; i < _slots.Length; i++)
        {
            ref var s = ref _slots[i];
            if (s.Pins > 0 || s.State == State.Loading) continue;
            if (s.State == State.Empty) return i;
            bool expected = _expected[Index(s.Key)];
            if (expected && prefetchOf is not null) continue;
            // Lowest score goes: the policy's priority, or for a prefetch the nearest expected next use.
            double score = prefetchOf is null ? _policy.Priority(s.Key, _clock) : -_nextUse.Distance(s.Key);
            if (expected)
            {
                if (score < bestExpectedScore) (bestExpectedScore, bestExpected) = (score, i);
            }
            else if (score < bestScore) (bestScore, best) = (score, i);
        }
        if (prefetchOf is not { } candidate) return best >= 0 ? best : bestExpected;
        return best >= 0 && -bestScore > _nextUse.Distance(candidate) ? best : -1;
    }

    void Assign(int i, ExpertKey key, bool prefetched, long now)
    {
        ref var s = ref _slots[i];
        if (s.State == State.Ready)
        {
            _slotOf[Index(s.Key)] = -1;
            _policy.OnEvict(s.Key);
            if (s.Prefetched && !s.Used) Interlocked.Increment(ref _stats.PrefetchWasted);
        }
        s.Key = key;
        s.State = State.Loading;
        s.Pins = 1;
        s.Prefetched = prefetched;
        s.Used = false;
        s.Error = null;
        _ready[i].Reset();
        _slotOf[Index(key)] = i;
        _policy.OnInsert(key, now);
    }

    public void Dispose()
    {
        foreach (var e in _ready) e.Dispose();
        _memory.Dispose();
    }
}

namespace MoeSpeq.Tensors;

/// <summary>A unit of data-parallel work: <see cref="Execute"/> is called once for every index of a run.</summary>
public interface IParallelTask
{
    void Execute(int index);
}

/// <summary>
/// A fixed set of worker threads that run <see cref="IParallelTask"/> indices to completion, with the calling
/// thread taking part. A run allocates nothing: the task object is the caller's (reused across runs), indices
/// are claimed with one interlocked increment each, and idle workers spin briefly before they sleep, because
/// decode issues thousands of short runs per second and a wake-up through the OS would cost more than the work.
/// </summary>
public sealed class ComputePool : IDisposable
{
    const int SpinIterationsBeforeSleep = 20_000;

    readonly Thread[] _workers;
    readonly object _gate = new();
    IParallelTask? _task;
    int _count;
    int _next;
    int _busyWorkers;
    long _generation;
    bool _disposed;
    Exception? _failure;

    public ComputePool(int threadCount)
    {
        if (threadCount < 1) throw new ArgumentOutOfRangeException(nameof(threadCount), threadCount, "need at least one thread");
        ThreadCount = threadCount;
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"moespeq-compute-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>Threads that execute work, the caller's included.</summary>
    public int ThreadCount { get; }

    /// <summary>A pool sized to the machine's cores.</summary>
    public static ComputePool ForMachine() => new(Environment.ProcessorCount);

    /// <summary>Calls <c>task.Execute(i)</c> for every i in [0, count) across the pool and returns when all are done.</summary>
    public void Run(IParallelTask task, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) return;
        if (_workers.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++) task.Execute(i);
            return;
        }

        _task = task;
        _count = count;
        _failure = null;
        Volatile.Write(ref _next, 0);
        Volatile.Write(ref _busyWorkers, _workers.Length);
        lock (_gate)
        {
            _generation++;
            Monitor.PulseAll(_gate);
        }

        Drain(task, count);
        var spin = new SpinWait();
        while (Volatile.Read(ref _busyWorkers) != 0) spin.SpinOnce(sleep1Threshold: -1);
        _task = null;
        if (_failure is { } failure) throw new AggregateException("a parallel task failed", failure);
    }

    void Drain(IParallelTask task, int count)
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < count)
        {
            try { task.Execute(i); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
                Volatile.Write(ref _next, count);
            }
        }
    }

    void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen)
            {
                if (++spins < SpinIterationsBeforeSleep) { Thread.SpinWait(8); continue; }
                lock (_gate)
                {
                    while (_generation == seen && !_disposed) Monitor.Wait(_gate);
                }
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            if (_task is { } task) Drain(task, _count);
            Interlocked.Decrement(ref _busyWorkers);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        lock (_gate)
        {
            _disposed = true;
            _generation++;
            Monitor.PulseAll(_gate);
        }
        foreach (var worker in _workers) worker.Join();
    }
}

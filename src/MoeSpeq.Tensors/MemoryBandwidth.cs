using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace MoeSpeq.Tensors;

/// <summary>
/// Measures sustained read bandwidth from DRAM with the same threads the kernels use, to state the roofline a
/// decode step is bound by: tokens/s ≤ bandwidth / bytes read per token.
/// </summary>
public sealed unsafe class MemoryBandwidth : IParallelTask
{
    readonly byte* _buffer;
    readonly long _bytes;
    int _chunks;
    long _chunkBytes;
    readonly long[] _sinks = new long[64];

    /// <summary>
    /// Probes memory the caller owns, normally the mapped weights themselves: the bandwidth a decode step can get
    /// from the very pages it reads (page size, placement and NUMA included), not from a fresh allocation.
    /// </summary>
    public MemoryBandwidth(byte* region, long bytes)
    {
        _buffer = region;
        _bytes = bytes / 4096 * 4096;
    }

    /// <summary>Best of <paramref name="repetitions"/> full passes over the buffer, in bytes per second.</summary>
    public double Measure(ComputePool pool, int repetitions = 3)
    {
        _chunks = pool.ThreadCount * 8;
        _chunkBytes = _bytes / _chunks / 64 * 64;
        double best = 0;
        for (int r = 0; r < repetitions; r++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.Run(this, _chunks);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, _chunkBytes * _chunks / seconds);
        }
        return best;
    }

    void IParallelTask.Execute(int index)
    {
        var p = (Vector256<long>*)(_buffer + index * _chunkBytes);
        long n = _chunkBytes / 32;
        Vector256<long> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 4 <= n; i += 4)
        {
            a += p[i];
            b += p[i + 1];
            c += p[i + 2];
            d += p[i + 3];
        }
        // Publishing the sum keeps the JIT from discarding the loads.
        _sinks[index % _sinks.Length] = Vector256.Sum(a + b + c + d);
    }
}

using System.Diagnostics;
using MoeSpeq.Tensors;

namespace MoeSpeq.Benchmarks;

/// <summary>
/// Decode-shaped mat-muls over weights far larger than the last-level cache, next to the read-bandwidth probe on the
/// same bytes: whether a kernel keeps up with DRAM per thread, and what splitting the work into many pool runs costs.
/// </summary>
internal static class Streaming
{
    public static unsafe void Run(int threads, string? only = null)
    {
        using var pool = new ComputePool(threads);
        const int Rows = 2816, Cols = 1024, Copies = 160;
        Console.WriteLine($"ISA {VecDot.Isa}, {threads} thread(s); {Copies} distinct {Cols}×{Rows} matrices, batch 1, best of 5 passes");
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_K })
        {
            if (only is not null && type.ToString() != only) continue;
            using var data = new KernelData(type, Rows * Copies, Cols, 1);
            long one = (long)Rows * data.Matrix.RowBytes;
            for (int c = 1; c < Copies; c++) Buffer.MemoryCopy(data.Weights, data.Weights + c * one, one, one);
            var y = new float[Rows * Copies];
            var matMul = new MatMul(pool);
            var x = new QuantizedActivations();
            x.Quantize(type, data.Activations, Cols, 1, null);
            double whole = Best(() => matMul.Multiply(data.Matrix, x, y), 5);
            double sliced = Best(() =>
            {
                for (int c = 0; c < Copies; c++) matMul.Multiply(data.Matrix.SliceRows(c * Rows, Rows), x, y.AsSpan(c * Rows, Rows));
            }, 5);
            var probe = new MemoryBandwidth(data.Weights, one * Copies);
            double gb = one * Copies / 1e9;
            Console.WriteLine($"{type,-5} one run {gb / whole,6:F1} GB/s   {Copies} runs {gb / sliced,6:F1} GB/s   probe {probe.Measure(pool, 5) / 1e9,6:F1} GB/s");
        }
    }

    static double Best(Action action, int runs)
    {
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 500) action();
        double best = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return best;
    }
}

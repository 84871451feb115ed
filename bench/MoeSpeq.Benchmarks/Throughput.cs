using System.Diagnostics;
using MoeSpeq.Tensors;

namespace MoeSpeq.Benchmarks;

/// <summary>Decode-shaped mat-muls reported as GB/s of weights streamed, per thread count and instruction set.</summary>
internal static class Throughput
{
    public static void Run(int threads, string? only = null)
    {
        using var pool = new ComputePool(threads);
        Console.WriteLine($"ISA {VecDot.Isa}, {threads} thread(s); 1024×2816 weights (K-quants 1024×2816), best of 200 runs");
        Console.WriteLine($"{"type",-6} {"batch",5} {"MB",6} {"µs",9} {"GB/s",7} {"scalar µs",10}");
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16, GgmlType.F32,
                                     GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q5_K, GgmlType.BF16 })
        {
            if (only is not null && type.ToString() != only) continue;
            foreach (int batch in new[] { 1, 16 })
            {
                using var data = new KernelData(type, 1024, 2816, batch);
                var y = new float[batch * 1024];
                var fast = new MatMul(pool);
                var scalar = new MatMul(pool) { Isa = VecDotIsa.Scalar };
                double best = Best(() => fast.Multiply(data.Matrix, data.Activations, y, batch), 200);
                double bestScalar = Best(() => scalar.Multiply(data.Matrix, data.Activations, y, batch), 5);
                double mb = data.Matrix.ByteLength / 1e6;
                Console.WriteLine($"{type,-6} {batch,5} {mb,6:F2} {best * 1e6,9:F1} {mb / 1e3 / best,7:F1} {bestScalar * 1e6,10:F0}");
            }
        }
    }

    static double Best(Action action, int runs)
    {
        // Long enough for tiered JIT to promote the kernels (its 100 ms tier-up delay restarts while anything new is
        // jitted, so a count of calls alone can time tier-0 code).
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < Math.Max(3, runs / 4) || warm.ElapsedMilliseconds < 400; i++) action();
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

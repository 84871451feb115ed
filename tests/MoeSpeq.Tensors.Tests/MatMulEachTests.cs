using System.Runtime.InteropServices;
using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>Multiplying several matrices by one input, converting it once, equals multiplying each separately.</summary>
public unsafe class MatMulEachTests
{
    static WeightMatrix RandomMatrix(GgmlType type, int rows, int cols, int seed, List<IntPtr> owned)
    {
        var rng = new Random(seed);
        int rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var data = (byte*)NativeMemory.Alloc((nuint)(rows * rowBytes));
        owned.Add((IntPtr)data);
        var values = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) values[c] = (float)(rng.NextDouble() * 2 - 1);
            Quantize.Row(type, values, new Span<byte>(data + r * rowBytes, rowBytes));
        }
        return new WeightMatrix(type, rows, cols, data);
    }

    // The large shapes split into pool chunks that straddle the matrices' boundaries.
    [Theory]
    [InlineData(GgmlType.Q8_0, GgmlType.Q8_0, GgmlType.Q8_0, 1, 48, 40, 32)]
    [InlineData(GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q4_K, 3, 48, 40, 32)]
    [InlineData(GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_0, 9, 48, 40, 32)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q8_0, GgmlType.Q8_0, 1, 1400, 600, 520)]
    [InlineData(GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q4_K, 5, 1400, 600, 520)]
    public void SharedInputGivesTheSameProducts(GgmlType t0, GgmlType t1, GgmlType t2, int batch, int rows0, int rows1, int rows2)
    {
        var owned = new List<IntPtr>();
        try
        {
            const int cols = 256;
            var w0 = RandomMatrix(t0, rows0, cols, 1, owned);
            var w1 = RandomMatrix(t1, rows1, cols, 2, owned);
            var w2 = RandomMatrix(t2, rows2, cols, 3, owned);
            var x = Enumerable.Range(0, batch * cols).Select(i => MathF.Sin(i * 0.37f)).ToArray();
            using var pool = new ComputePool(2);
            var mm = new MatMul(pool);

            float[] y0 = new float[batch * rows0], y1 = new float[batch * rows1], y2 = new float[batch * rows2];
            mm.MultiplyEach(x, batch, w0, y0, w1, y1, w2, y2);

            float[] e0 = new float[y0.Length], e1 = new float[y1.Length], e2 = new float[y2.Length];
            mm.Multiply(w0, x, e0, batch);
            mm.Multiply(w1, x, e1, batch);
            mm.Multiply(w2, x, e2, batch);
            Assert.Equal(e0, y0);
            Assert.Equal(e1, y1);
            Assert.Equal(e2, y2);

            float[] p0 = new float[y0.Length], p1 = new float[y1.Length];
            mm.MultiplyEach(x, batch, w0, p0, w1, p1);
            Assert.Equal(e0, p0);
            Assert.Equal(e1, p1);
        }
        finally
        {
            foreach (var p in owned) NativeMemory.Free((void*)p);
        }
    }

    // Several experts' products in one run, each over its own rows of input (a MoE layer's grouped tokens), more
    // parts than one run holds, and chunks that straddle parts of different batch sizes.
    [Theory]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q4_K, 3)]
    [InlineData(GgmlType.Q6_K, 1)]
    public void QueuedProductsOverDistinctInputsEqualSeparateProducts(GgmlType type, int maxBatch)
    {
        var owned = new List<IntPtr>();
        try
        {
            const int cols = 256, parts = MatMul.MaxParts + 7;
            var rng = new Random(5);
            var w = new WeightMatrix[parts];
            var batches = new int[parts];
            var xs = new float[parts][];
            var ys = new float[parts][];
            for (int i = 0; i < parts; i++)
            {
                w[i] = RandomMatrix(type, 20 + rng.Next(200), cols, 10 + i, owned);
                batches[i] = rng.Next(maxBatch + 1);
                xs[i] = GC.AllocateArray<float>(Math.Max(1, batches[i]) * cols, pinned: true);
                for (int j = 0; j < xs[i].Length; j++) xs[i][j] = (float)(rng.NextDouble() * 2 - 1);
                ys[i] = GC.AllocateArray<float>(Math.Max(1, batches[i]) * w[i].Rows, pinned: true);
            }
            using var pool = new ComputePool(2);
            var mm = new MatMul(pool);
            for (int i = 0; i < parts; i++)
            {
                // Every second part reads the same input as the one before it, as an expert's gate and up do.
                var x = i % 2 == 1 && batches[i] == batches[i - 1] ? xs[i - 1] : xs[i];
                fixed (float* px = x)
                fixed (float* py = ys[i])
                    mm.Enqueue(w[i], px, batches[i], py, w[i].Rows);
            }
            mm.RunQueued();
            for (int i = 0; i < parts; i++)
            {
                var x = i % 2 == 1 && batches[i] == batches[i - 1] ? xs[i - 1] : xs[i];
                var expected = new float[ys[i].Length];
                mm.Multiply(w[i], x, expected, batches[i]);
                Assert.Equal(expected.AsSpan(0, batches[i] * w[i].Rows).ToArray(), ys[i].AsSpan(0, batches[i] * w[i].Rows).ToArray());
            }
        }
        finally
        {
            foreach (var p in owned) NativeMemory.Free((void*)p);
        }
    }
}

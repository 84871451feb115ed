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
}

using System.Runtime.InteropServices;
using Xunit;

namespace MoeSpeq.Tensors.Tests;

public sealed unsafe class MatMulTests : IDisposable
{
    readonly ComputePool _pool = new(3);

    public void Dispose() => _pool.Dispose();

    sealed class NativeMatrix : IDisposable
    {
        public readonly byte* Data;
        public readonly WeightMatrix W;
        public readonly float[] Dequantized;

        public NativeMatrix(GgmlType type, int rows, int cols, int seed)
        {
            int rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            Data = (byte*)NativeMemory.AlignedAlloc((nuint)(rowBytes * rows), 64);
            Dequantized = new float[rows * cols];
            for (int r = 0; r < rows; r++)
            {
                var row = new Span<byte>(Data + (long)r * rowBytes, rowBytes);
                TestData.RandomRow(type, cols, seed + r).CopyTo(row);
                Dequantize.Row(type, row, Dequantized.AsSpan(r * cols, cols));
            }
            W = new WeightMatrix(type, rows, cols, Data);
        }

        public void Dispose() => NativeMemory.AlignedFree(Data);
    }

    /// <summary>Naive reference: dequantized weights times the activations as the kernel sees them, summed in F64.</summary>
    static (double[] y, double[] scale) Naive(NativeMatrix m, float[] x, int batch)
    {
        int rows = m.W.Rows, cols = m.W.Cols;
        var xType = VecDot.TypeFor(m.W.Type);
        var q = new byte[GgmlTypeInfo.RowBytes(xType, cols)];
        var xd = new float[cols];
        var y = new double[batch * rows];
        var scale = new double[batch * rows];
        for (int b = 0; b < batch; b++)
        {
            VecDot.QuantizeActivation(xType, x.AsSpan(b * cols, cols), q);
            Dequantize.Row(xType, q, xd);
            for (int r = 0; r < rows; r++)
            {
                var wRow = new ReadOnlySpan<byte>(m.Data + (long)r * m.W.RowBytes, m.W.RowBytes);
                (y[b * rows + r], scale[b * rows + r]) = ExpectedDot.Compute(m.W.Type, wRow, q, m.Dequantized.AsSpan(r * cols, cols), xd);
            }
        }
        return (y, scale);
    }

    public static TheoryData<GgmlType, int> Cases()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var t in TestData.WeightTypes)
            foreach (int batch in new[] { 1, 3, 17 })
                data.Add(t, batch);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesNaiveReference(GgmlType type, int batch)
    {
        const int rows = 75;
        int cols = GgmlTypeInfo.BlockSize(type) == 256 ? 768 : 352;
        using var m = new NativeMatrix(type, rows, cols, seed: 11);
        var x = TestData.Weights(batch * cols, seed: 5);
        var y = new float[batch * rows];
        new MatMul(_pool).Multiply(m.W, x, y, batch);
        var (expected, scale) = Naive(m, x, batch);
        for (int i = 0; i < y.Length; i++)
            Tolerance.AssertClose(expected[i], y[i], scale[i], Tolerance.VersusExact, $"{type} batch {batch} y[{i / rows}, {i % rows}]");
    }

    [Fact]
    public void StridedOutputAndReusedActivations()
    {
        const int rows = 40, cols = 512, batch = 5, stride = 100;
        using var gate = new NativeMatrix(GgmlType.Q4_K, rows, cols, seed: 1);
        using var up = new NativeMatrix(GgmlType.Q4_K, rows, cols, seed: 2);
        var x = TestData.Weights(batch * cols, seed: 3);
        var mm = new MatMul(_pool);
        var xq = new QuantizedActivations();
        xq.Quantize(GgmlType.Q4_K, x, cols, batch, _pool);
        var fused = new float[batch * stride];
        mm.Multiply(gate.W, xq, fused, stride);
        mm.Multiply(up.W, xq, fused.AsSpan(rows), stride);
        var g = new float[batch * rows];
        var u = new float[batch * rows];
        mm.Multiply(gate.W, x, g, batch);
        mm.Multiply(up.W, x, u, batch);
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < rows; r++)
            {
                Assert.Equal(g[b * rows + r], fused[b * stride + r]);
                Assert.Equal(u[b * rows + r], fused[b * stride + rows + r]);
            }
        Assert.Equal(0f, fused[stride - 1]);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q4_K, 1)]
    [InlineData(GgmlType.F16, 16)]
    [InlineData(GgmlType.Q6_K, 16)]
    public void SteadyStateAllocatesNothing(GgmlType type, int batch)
    {
        using var m = new NativeMatrix(type, 64, 512, seed: 9);
        var x = TestData.Weights(batch * 512, seed: 4);
        var y = new float[batch * 64];
        var mm = new MatMul(_pool);
        for (int i = 0; i < 3; i++) mm.Multiply(m.W, x, y, batch); // grow scratch, JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) mm.Multiply(m.W, x, y, batch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void RejectsMismatchedActivations()
    {
        using var m = new NativeMatrix(GgmlType.Q8_0, 4, 64, seed: 1);
        var xq = new QuantizedActivations();
        xq.Quantize(GgmlType.Q4_K, new float[256], 256, 1);
        Assert.Throws<ArgumentException>(() => new MatMul(_pool).Multiply(m.W, xq, new float[4]));
        Assert.Throws<ArgumentException>(() => new MatMul(_pool).Multiply(m.W, new float[63], new float[4], 1));
    }
}

using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>
/// Every kernel on every instruction set this machine runs, against the scalar reference. Re-run in child processes
/// with lower instruction sets disabled by <see cref="IsaChildProcessTests"/>.
/// </summary>
public class VecDotTests
{
    public static TheoryData<GgmlType> Types()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var t in TestData.WeightTypes) data.Add(t);
        return data;
    }

    static IEnumerable<int> Lengths(GgmlType type)
    {
        int block = Math.Max(32, GgmlTypeInfo.BlockSize(type));
        for (int blocks = 1; blocks <= 24; blocks++) yield return blocks * block;
        yield return 4096;
        yield return 2816;
        if (block == 32) yield return 32 * 37;
    }

    static (byte[] w, byte[] x, float[] wDeq, float[] xDeq) Row(GgmlType type, int n, int seed)
    {
        var w = TestData.RandomRow(type, n, seed);
        var xType = VecDot.TypeFor(type);
        var x = new byte[GgmlTypeInfo.RowBytes(xType, n)];
        VecDot.QuantizeActivation(xType, TestData.Weights(n, seed + 1), x);
        var wDeq = new float[n];
        var xDeq = new float[n];
        Dequantize.Row(type, w, wDeq);
        Dequantize.Row(xType, x, xDeq);
        return (w, x, wDeq, xDeq);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void ReferenceMatchesDequantizedDot(GgmlType type)
    {
        foreach (int n in Lengths(type))
        {
            var (w, x, wDeq, xDeq) = Row(type, n, n);
            var (exact, scale) = ExpectedDot.Compute(type, w, x, wDeq, xDeq);
            Tolerance.AssertClose(exact, VecDot.RowReference(type, w, x, n), scale, Tolerance.VersusExact, $"{type} n={n} reference");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void EveryIsaMatchesReference(GgmlType type)
    {
        foreach (int n in Lengths(type))
        {
            var (w, x, wDeq, xDeq) = Row(type, n, 7 * n);
            double scale = 0;
            for (int i = 0; i < n; i++) scale += Math.Abs((double)wDeq[i] * xDeq[i]);
            float reference = VecDot.RowReference(type, w, x, n);
            for (var isa = VecDotIsa.Scalar; isa <= VecDot.Isa; isa++)
                Tolerance.AssertClose(reference, VecDot.RowOn(isa, type, w, x, n), scale, Tolerance.KernelVsReference, $"{type} n={n} {isa}");
            Tolerance.AssertClose(reference, VecDot.Row(type, w, x, n), scale, Tolerance.KernelVsReference, $"{type} n={n} dispatched");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void ExtremeLevelsDoNotOverflow(GgmlType type)
    {
        // Largest-magnitude inputs drive every level to its end of the range: saturating 16-bit steps would show here.
        const int n = 1024;
        var wf = new float[n];
        var xf = new float[n];
        for (int i = 0; i < n; i++)
        {
            wf[i] = i % 3 == 0 ? 1f : i % 3 == 1 ? -1f : 0.999f;
            xf[i] = i % 2 == 0 ? 1f : -1f;
        }
        var w = new byte[GgmlTypeInfo.RowBytes(type, n)];
        Quantize.Row(type, wf, w);
        var xType = VecDot.TypeFor(type);
        var x = new byte[GgmlTypeInfo.RowBytes(xType, n)];
        VecDot.QuantizeActivation(xType, xf, x);
        var wDeq = new float[n];
        var xDeq = new float[n];
        Dequantize.Row(type, w, wDeq);
        Dequantize.Row(xType, x, xDeq);
        var (exact, scale) = ExpectedDot.Compute(type, w, x, wDeq, xDeq);
        for (var isa = VecDotIsa.Scalar; isa <= VecDot.Isa; isa++)
            Tolerance.AssertClose(exact, VecDot.RowOn(isa, type, w, x, n), scale, Tolerance.VersusExact, $"{type} {isa}");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q8_1)]
    [InlineData(GgmlType.Q8_K)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void ActivationQuantizersAgreeBitForBitOnEveryIsa(GgmlType vecDotType)
    {
        const int n = 256 * 12;
        var x = TestData.Weights(n, seed: 3);
        // Exact ties after scaling, zeros, a negative maximum first and a positive one of equal size later.
        for (int i = 0; i < 64; i++) x[i] = (i % 9 - 4) * 0.5f;
        Array.Clear(x, 256, 256);
        x[512] = -9f; x[600] = 9f;
        var reference = new byte[GgmlTypeInfo.RowBytes(vecDotType, n)];
        VecDot.QuantizeActivationOn(VecDotIsa.Scalar, vecDotType, x, reference);
        for (var isa = VecDotIsa.Avx2; isa <= VecDot.Isa; isa++)
        {
            var actual = new byte[reference.Length];
            VecDot.QuantizeActivationOn(isa, vecDotType, x, actual);
            Assert.Equal(reference, actual);
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public unsafe void MultiRowKernelsMatchSingleRowKernels(GgmlType type)
    {
        foreach (int n in new[] { 256, 512, 768, 2816, 4096 })
        {
            var w = TestData.RandomRow(type, n, n);
            var xType = VecDot.TypeFor(type);
            int rowBytes = GgmlTypeInfo.RowBytes(xType, n);
            const int rows = 8;
            var x = new byte[rowBytes * rows];
            var xf = TestData.Weights(n * rows, seed: n + 1);
            for (int k = 0; k < rows; k++) VecDot.QuantizeActivation(xType, xf.AsSpan(k * n, n), x.AsSpan(k * rowBytes, rowBytes));
            var wDeq = new float[n];
            Dequantize.Row(type, w, wDeq);
            for (var isa = VecDotIsa.Scalar; isa <= VecDot.Isa; isa++)
            {
                var multi = VecDot.MultiKernel(type, isa);
                if (multi == null) continue;
                Assert.InRange(VecDot.MultiKernelRows(type, isa), 1, rows);
                for (int count = 1; count <= VecDot.MultiKernelRows(type, isa); count++)
                {
                    // Room for every row a kernel could take, filled with a marker that any stray write replaces.
                    const float untouched = -7777f;
                    var y = Enumerable.Repeat(untouched, 2 * rows).ToArray();
                    fixed (byte* pw = w)
                    fixed (byte* px = x)
                    fixed (float* py = y)
                        multi(pw, px, rowBytes, n, py, 2, count);
                    for (int k = 0; k < count; k++)
                    {
                        var xk = x.AsSpan(k * rowBytes, rowBytes);
                        var xDeq = new float[n];
                        Dequantize.Row(xType, xk, xDeq);
                        var (_, scale) = ExpectedDot.Compute(type, w, xk, wDeq, xDeq);
                        Tolerance.AssertClose(VecDot.RowReference(type, w, xk, n), y[2 * k], scale, Tolerance.KernelVsReference, $"{type} n={n} {isa} row {k} of {count}");
                        // Batch invariance: a row's dot never depends on the rows computed beside it, so a batched
                        // pass (prefill, speculative verification) reproduces one-token decoding bit for bit.
                        Assert.Equal(VecDot.RowOn(isa, type, w, xk, n), y[2 * k]);
                        Assert.Equal(untouched, y[2 * k + 1]);
                    }
                    for (int k = 2 * count; k < y.Length; k++) Assert.Equal(untouched, y[k]);
                }
            }
        }
    }

    [Fact]
    public void VecDotTypesFollowGgml()
    {
        Assert.Equal(GgmlType.Q8_0, VecDot.TypeFor(GgmlType.Q4_0));
        Assert.Equal(GgmlType.Q8_0, VecDot.TypeFor(GgmlType.Q5_0));
        Assert.Equal(GgmlType.Q8_0, VecDot.TypeFor(GgmlType.Q8_0));
        Assert.Equal(GgmlType.Q8_0, VecDot.TypeFor(GgmlType.MXFP4));
        Assert.Equal(GgmlType.Q8_1, VecDot.TypeFor(GgmlType.Q4_1));
        Assert.Equal(GgmlType.Q8_1, VecDot.TypeFor(GgmlType.Q5_1));
        foreach (var k in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
            Assert.Equal(GgmlType.Q8_K, VecDot.TypeFor(k));
        Assert.Equal(GgmlType.F16, VecDot.TypeFor(GgmlType.F16));
        Assert.Equal(GgmlType.BF16, VecDot.TypeFor(GgmlType.BF16));
        Assert.Equal(GgmlType.F32, VecDot.TypeFor(GgmlType.F32));
    }

    /// <summary>
    /// A child process started by <see cref="IsaChildProcessTests"/> names the instruction set the dispatcher must pick
    /// there, so the child proves it ran the lower path rather than silently the best one.
    /// </summary>
    [Fact]
    public void DispatcherPicksExpectedIsa()
    {
        var expected = Environment.GetEnvironmentVariable(IsaChildProcessTests.ExpectedIsaVariable);
        if (string.IsNullOrEmpty(expected)) Assert.Skip("runs inside the ISA child processes only");
        Assert.Equal(Enum.Parse<VecDotIsa>(expected), VecDot.Isa);
    }
}

using Xunit;

namespace MoeSpeq.Tensors.Tests;

public class QuantizeTests
{
    /// <summary>Upper bounds of RMS(dequant(quant(x)) − x)/RMS(x) on Gaussian data with outliers (≈1.5× what ggml's quantizers reach).</summary>
    [Theory]
    [InlineData(GgmlType.F16, 0.0005)]
    [InlineData(GgmlType.BF16, 0.004)]
    [InlineData(GgmlType.Q8_0, 0.012)]
    [InlineData(GgmlType.Q8_1, 0.012)]
    [InlineData(GgmlType.Q8_K, 0.025)] // one scale per 256 values, so outliers cost more
    [InlineData(GgmlType.Q6_K, 0.03)]
    [InlineData(GgmlType.Q5_0, 0.07)]
    [InlineData(GgmlType.Q5_1, 0.06)]
    [InlineData(GgmlType.Q5_K, 0.06)]
    [InlineData(GgmlType.Q4_0, 0.14)]
    [InlineData(GgmlType.Q4_1, 0.12)]
    [InlineData(GgmlType.Q4_K, 0.11)]
    [InlineData(GgmlType.MXFP4, 0.3)] // power-of-two scales and a coarse E2M1 grid
    [InlineData(GgmlType.Q3_K, 0.25)]
    [InlineData(GgmlType.Q2_K, 0.45)]
    public void RoundTripErrorIsBounded(GgmlType type, double maxRelativeRms)
    {
        const int n = 256 * 16;
        var x = TestData.Weights(n, seed: (int)type);
        var q = new byte[GgmlTypeInfo.RowBytes(type, n)];
        Quantize.Row(type, x, q);
        var y = new float[n];
        Dequantize.Row(type, q, y);
        double err = 0, sig = 0;
        for (int i = 0; i < n; i++)
        {
            err += (y[i] - x[i]) * (double)(y[i] - x[i]);
            sig += x[i] * (double)x[i];
        }
        double rel = Math.Sqrt(err / sig);
        Assert.True(rel < maxRelativeRms, $"{type}: relative RMS error {rel:F5} ≥ {maxRelativeRms}");
    }

    [Theory]
    [MemberData(nameof(TestData.StoredQuantTypes), MemberType = typeof(TestData))]
    public void ZerosStayZero(GgmlType type)
    {
        int n = GgmlTypeInfo.BlockSize(type) * 2;
        var q = new byte[GgmlTypeInfo.RowBytes(type, n)];
        Quantize.Row(type, new float[n], q);
        var y = new float[n];
        Dequantize.Row(type, q, y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Q8_0ReferenceRoundsTiesAwayFromZero()
    {
        // amax 127 gives d = 1 and id = 1: 2.5 → 3 and −0.5 → −1 under roundf (ties away), unlike nearest-even.
        var x = new float[32];
        x[0] = 127f; x[1] = 2.5f; x[2] = -0.5f;
        var q = new byte[34];
        Quantize.Row(GgmlType.Q8_0, x, q);
        Assert.Equal(127, (sbyte)q[2]);
        Assert.Equal(3, (sbyte)q[3]);
        Assert.Equal(-1, (sbyte)q[4]);
        // The x86 activation quantizer of llama.cpp rounds the same ties to even.
        VecDot.QuantizeActivation(GgmlType.Q8_0, x, q);
        Assert.Equal(2, (sbyte)q[3]);
        Assert.Equal(0, (sbyte)q[4]);
    }

    [Fact]
    public void RejectsPartialBlocks() =>
        Assert.Throws<ArgumentException>(() => Quantize.Row(GgmlType.Q4_K, new float[100], new byte[1000]));
}

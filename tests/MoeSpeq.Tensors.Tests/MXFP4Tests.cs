using MoeSpeq.Tensors.Quants;
using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>
/// MXFP4 cases the generic kernel sweeps do not reach: every code, and exponents down to E8M0's subnormal half-scales,
/// on every instruction set, exactly. Rows share one exponent and one activation scale, so every partial sum is an
/// integer times the same power of two and any summation order gives the same float. Re-run in child processes by
/// <see cref="IsaChildProcessTests"/>.
/// </summary>
public class MXFP4Tests
{
    [Theory]
    [InlineData(0)]   // ½·2^−127: a subnormal scale
    [InlineData(1)]
    [InlineData(2)]   // the smallest normal half-scale
    [InlineData(120)]
    [InlineData(127)]
    [InlineData(140)]
    [InlineData(200)]
    public void DotIsExactOnEveryIsa(byte exponent)
    {
        var rng = new Random(exponent);
        foreach (int blocks in new[] { 1, 2, 3, 4, 6, 9 })
        {
            int n = blocks * 32;
            var w = new byte[blocks * BlockMXFP4.Bytes];
            var x = new byte[blocks * BlockQ8_0.Bytes];
            long sumi = 0;
            for (int b = 0; b < blocks; b++)
            {
                w[b * 17] = exponent;
                BitConverter.TryWriteBytes(x.AsSpan(b * 34), BitConverter.HalfToUInt16Bits((Half)(1f / 64)));
                for (int j = 0; j < 16; j++)
                {
                    // Both nibbles walk through all 16 codes, at different offsets in each block.
                    int lo = (j + b) & 15, hi = (j * 7 + b + 3) & 15;
                    w[b * 17 + 1 + j] = (byte)(lo | (hi << 4));
                    sbyte qLo = (sbyte)rng.Next(-127, 128), qHi = (sbyte)rng.Next(-127, 128);
                    x[b * 34 + 2 + j] = unchecked((byte)qLo);
                    x[b * 34 + 2 + j + 16] = unchecked((byte)qHi);
                    sumi += BlockMXFP4.Levels[lo] * qLo + BlockMXFP4.Levels[hi] * qHi;
                }
            }
            float expected = (float)(sumi * (double)BlockMXFP4.HalfScale(exponent) / 64);
            for (var isa = VecDotIsa.Scalar; isa <= VecDot.Isa; isa++)
                Assert.Equal(expected, VecDot.RowOn(isa, GgmlType.MXFP4, w, x, n));
        }
    }

    [Fact]
    public void QuantizerPicksTheNearestCodeAndTheFirstOnTies()
    {
        // amax 6 gives e = ⌊log2 6⌋ − 2 + 127 = 127 and half-scale 0.5, so code c stands for Levels[c]·0.5.
        var x = new float[32];
        x[0] = 6f;      // code 7 (+6)
        x[1] = -0.25f;  // halfway between 0 and −0.5: the first code, 0, wins
        x[2] = 2.4f;    // nearest is +2 (code 4)
        x[3] = -5f;     // halfway between −4 and −6: code 14 (−4) comes first
        x[16] = 0.75f;  // halfway between +0.5 and +1: code 1 (+0.5) first
        var q = new byte[17];
        Quantize.Row(GgmlType.MXFP4, x, q);
        Assert.Equal(127, q[0]);
        Assert.Equal(0x17, q[1]); // element 0: code 7; element 16: code 1
        Assert.Equal(0x00, q[2]);
        Assert.Equal(0x04, q[3]);
        Assert.Equal(0x0E, q[4]);
    }
}

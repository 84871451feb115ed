using Xunit;

namespace MoeSpeq.Tensors.Tests;

public class Fp16Tests
{
    /// <summary>An independent F32 → F16 oracle: exact rounding done in double arithmetic, ties to even.</summary>
    static ushort OracleF16(float f)
    {
        if (float.IsNaN(f)) return (ushort)((BitConverter.SingleToUInt32Bits(f) >> 16 & 0x8000) | 0x7E00);
        ushort sign = (ushort)(BitConverter.SingleToUInt32Bits(f) >> 16 & 0x8000);
        double a = Math.Abs((double)f);
        if (a >= 65520.0) return (ushort)(sign | 0x7C00);
        // Units of the last place: 2^-24 below 2^-14 (subnormals), else 2^(e-10).
        int e = a < Math.Pow(2, -14) ? -14 : (int)Math.Floor(Math.Log2(a));
        if (a >= Math.Pow(2, e + 1)) e++;
        if (a < Math.Pow(2, e)) e--;
        e = Math.Max(e, -14);
        double ulp = Math.Pow(2, e - 10);
        double m = Math.Round(a / ulp, MidpointRounding.ToEven) * ulp;
        return (ushort)(sign | BitConverter.HalfToUInt16Bits((Half)m));
    }

    [Fact]
    public void FromSingleRoundsToNearestEven()
    {
        var rng = new Random(1);
        for (int i = 0; i < 200_000; i++)
        {
            float f = BitConverter.Int32BitsToSingle(rng.Next() & 0x7fffffff | (rng.Next(2) << 31));
            if (Math.Abs(f) > 1e6f || Math.Abs(f) < 1e-9f) f = (float)(rng.NextDouble() * 2 - 1) * MathF.Pow(2, rng.Next(-26, 17));
            Assert.Equal(OracleF16(f), Fp16.FromSingle(f));
        }
        // Exact ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 and goes to the even one.
        Assert.Equal((ushort)0x3C00, Fp16.FromSingle(1f + MathF.Pow(2, -11)));
        Assert.Equal((ushort)0x3C02, Fp16.FromSingle(1f + 3 * MathF.Pow(2, -11)));
        Assert.Equal((ushort)0x7E00, Fp16.FromSingle(float.NaN) & 0x7fff);
        Assert.Equal((ushort)0x7C00, Fp16.FromSingle(float.PositiveInfinity));
        Assert.Equal((ushort)0x0001, Fp16.FromSingle(MathF.Pow(2, -24)));
    }

    [Fact]
    public void TableMatchesConversionForEveryCode()
    {
        for (int h = 0; h < 65536; h++)
        {
            float expected = Fp16.ToSingle((ushort)h);
            unsafe
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(Fp16.Table[h]));
            }
        }
    }

    [Theory]
    [InlineData(1.0f, 0x3F80)]
    [InlineData(-2.5f, 0xC020)]
    [InlineData(1.00390625f, 0x3F80)] // 1 + 2^-8: a tie, rounds to even (down)
    [InlineData(1.01171875f, 0x3F82)] // 1 + 3·2^-8: a tie, rounds to even (up)
    public void BF16RoundsToNearestEven(float value, int bits) => Assert.Equal((ushort)bits, Fp16.SingleToBF16(value));

    [Fact]
    public void BF16NaNStaysQuietNaN()
    {
        ushort b = Fp16.SingleToBF16(BitConverter.UInt32BitsToSingle(0x7f800001));
        Assert.True(float.IsNaN(Fp16.BF16ToSingle(b)));
        Assert.Equal(0x40, b & 0x40);
    }
}

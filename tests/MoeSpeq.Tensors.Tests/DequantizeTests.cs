using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>Hand-built blocks with values worked out from the format description (ggml-common.h), checked exactly.</summary>
public class DequantizeTests
{
    static float[] Run(GgmlType type, byte[] block)
    {
        var y = new float[GgmlTypeInfo.BlockSize(type)];
        Dequantize.Row(type, block, y);
        return y;
    }

    static void PutHalf(byte[] b, int offset, float value) => BitConverter.TryWriteBytes(b.AsSpan(offset), BitConverter.HalfToUInt16Bits((Half)value));

    [Fact]
    public void Q4_0()
    {
        var b = new byte[18];
        PutHalf(b, 0, 0.5f);
        b[2] = 0x9A; // element 0: 0xA − 8 = 2; element 16: 0x9 − 8 = 1
        b[17] = 0x0F; // element 15: 15 − 8 = 7; element 31: 0 − 8 = −8
        var y = Run(GgmlType.Q4_0, b);
        Assert.Equal(1.0f, y[0]);
        Assert.Equal(0.5f, y[16]);
        Assert.Equal(3.5f, y[15]);
        Assert.Equal(-4.0f, y[31]);
        Assert.Equal(-4.0f, y[1]);
    }

    [Fact]
    public void Q4_1()
    {
        var b = new byte[20];
        PutHalf(b, 0, 0.5f);
        PutHalf(b, 2, -1f);
        b[4] = 0x3F;
        var y = Run(GgmlType.Q4_1, b);
        Assert.Equal(6.5f, y[0]);
        Assert.Equal(0.5f, y[16]);
        Assert.Equal(-1f, y[1]);
    }

    [Fact]
    public void Q5_0()
    {
        var b = new byte[22];
        PutHalf(b, 0, 1f);
        b[2] = 0x01;  // qh bit 0: fifth bit of element 0
        b[5] = 0x80;  // qh bit 31: fifth bit of element 31
        b[6] = 0x21;  // element 0: 1 | 16 → 1; element 16: 2 → −14
        b[21] = 0xF0; // element 31: 15 | 16 → 15
        var y = Run(GgmlType.Q5_0, b);
        Assert.Equal(1f, y[0]);
        Assert.Equal(-14f, y[16]);
        Assert.Equal(15f, y[31]);
    }

    [Fact]
    public void Q5_1()
    {
        var b = new byte[24];
        PutHalf(b, 0, 2f);
        PutHalf(b, 2, 0.25f);
        b[4 + 2] = 0x01; // qh bit 16: fifth bit of element 16
        b[8] = 0x21;     // element 0: 1; element 16: 2 | 16 = 18
        var y = Run(GgmlType.Q5_1, b);
        Assert.Equal(2.25f, y[0]);
        Assert.Equal(36.25f, y[16]);
    }

    [Fact]
    public void Q8_0()
    {
        var b = new byte[34];
        PutHalf(b, 0, 2f);
        b[2] = unchecked((byte)-3);
        b[33] = 127;
        var y = Run(GgmlType.Q8_0, b);
        Assert.Equal(-6f, y[0]);
        Assert.Equal(254f, y[31]);
        Assert.Equal(0f, y[5]);
    }

    [Fact]
    public void Q2_K()
    {
        var b = new byte[84];
        b[0] = 0x23;  // group 0: scale 3, min 2
        b[2] = 0x11;  // group 2: scale 1, min 1
        b[16] = 0b0000_0110; // element 0 = 2 (bits 0-1), element 32 = 1 (bits 2-3)
        PutHalf(b, 80, 1f);
        PutHalf(b, 82, 0.25f);
        var y = Run(GgmlType.Q2_K, b);
        Assert.Equal(5.5f, y[0]);       // 1·3·2 − 0.25·2
        Assert.Equal(0.75f, y[32]);     // 1·1·1 − 0.25·1
        Assert.Equal(-0.5f, y[1]);      // 0 − 0.25·2
        Assert.Equal(0f, y[16]);        // group 1: scale 0, min 0
    }

    [Fact]
    public void Q3_K()
    {
        var b = new byte[110];
        b[0] = 0x01;   // hmask[0] bit 0: element 0 has its third bit
        b[1] = 0x01;   // hmask[1] bit 0: element 1 has its third bit
        b[32] = 0x03;  // qs: element 0 low bits 3
        b[33] = 0x01;  // element 1 low bits 1
        b[34] = 0x03;  // element 2 low bits 3, no high bit
        b[96] = 0x02; b[104] = 0x02; // group 0 scale: 2 | 2 << 4 = 34 → +2
        PutHalf(b, 108, 1f);
        var y = Run(GgmlType.Q3_K, b);
        Assert.Equal(6f, y[0]);    // 2·3
        Assert.Equal(2f, y[1]);    // 2·1
        Assert.Equal(-2f, y[2]);   // 2·(3 − 4)
        Assert.Equal(128f, y[16]); // group 1: scale 0 − 32 = −32, level 0 without high bit − 4 = −4
    }

    [Fact]
    public void Q4_K()
    {
        var b = new byte[144];
        PutHalf(b, 0, 1f);
        PutHalf(b, 2, 0.5f);
        b[4] = 0x43;   // scale 0 = 3, and bit 6 gives scale 4 its fifth bit
        b[8] = 0x02;   // min 0 = 2
        b[12] = 0x15;  // scale 4 low = 5, min 4 low = 1
        b[16] = 0x7A;  // element 0 = 10 (group 0), element 32 = 7 (group 1)
        b[16 + 64] = 0x04; // element 128 = 4 (group 4)
        var y = Run(GgmlType.Q4_K, b);
        Assert.Equal(29f, y[0]);      // 1·3·10 − 0.5·2
        Assert.Equal(0f, y[32]);      // group 1: scale 0, min 0
        Assert.Equal(83.5f, y[128]);  // 1·(5 | 16)·4 − 0.5·1
        Assert.Equal(-1f, y[1]);
    }

    [Fact]
    public void Q5_K()
    {
        var b = new byte[176];
        PutHalf(b, 0, 1f);
        PutHalf(b, 2, 1f);
        b[4] = 2;      // scale 0
        b[5] = 1;      // scale 1
        b[8] = 1;      // min 0
        b[16] = 0x03;  // qh[0]: fifth bit of element 0 (bit 0) and element 32 (bit 1)
        b[48] = 0x21;  // element 0 low 1, element 32 low 2
        var y = Run(GgmlType.Q5_K, b);
        Assert.Equal(33f, y[0]);  // 2·17 − 1
        Assert.Equal(18f, y[32]); // 1·18 − 0
    }

    [Fact]
    public void Q6_K()
    {
        var b = new byte[210];
        b[0] = 0x05;        // ql[0]: element 0 low nibble 5, element 64 low nibble 0
        b[128] = 0x02;      // qh[0]: element 0 high bits 2
        b[192] = 2;         // scale of group 0
        b[192 + 4] = 0xFF;  // scale of group 4 = −1
        PutHalf(b, 208, 1f);
        var y = Run(GgmlType.Q6_K, b);
        Assert.Equal(10f, y[0]);  // 2·(5 | 32 − 32)
        Assert.Equal(32f, y[64]); // −1·(0 − 32)
    }

    [Fact]
    public void Q8_K()
    {
        var b = new byte[292];
        BitConverter.TryWriteBytes(b, 0.5f);
        b[4 + 3] = unchecked((byte)-7);
        var y = Run(GgmlType.Q8_K, b);
        Assert.Equal(-3.5f, y[3]);
    }

    [Fact]
    public void MXFP4()
    {
        var b = new byte[17];
        b[0] = 127 + 2; // E8M0 scale 2^(129 − 127) = 4; the levels are doubled E2M1, so w = 4·level/2
        b[1] = 0xF7;    // element 0: code 7 = +6 → 24; element 16: code 15 = −6 → −24
        b[2] = 0x81;    // element 1: code 1 = +0.5 → 2; element 17: code 8 = −0 → 0
        b[16] = 0x5A;   // element 15: code 10 = −1 → −4; element 31: code 5 = +3 → 12
        var y = Run(GgmlType.MXFP4, b);
        Assert.Equal(24f, y[0]);
        Assert.Equal(-24f, y[16]);
        Assert.Equal(2f, y[1]);
        Assert.Equal(0f, y[17]);
        Assert.Equal(-4f, y[15]);
        Assert.Equal(12f, y[31]);
        Assert.Equal(0f, y[2]);
    }

    [Theory]
    [InlineData(0, 0x00200000)]   // 2^−128: a subnormal, half of E8M0's smallest scale 2^−127
    [InlineData(1, 0x00400000)]   // 2^−127, still subnormal
    [InlineData(2, 0x00800000)]   // 2^−126, the smallest normal float
    [InlineData(127, 0x3F000000)] // scale 1 halved: 0.5
    [InlineData(254, 0x7E800000)] // 2^126
    public void MXFP4HalfScaleFollowsE8M0(byte e, int bits) =>
        Assert.Equal(BitConverter.Int32BitsToSingle(bits), Quants.BlockMXFP4.HalfScale(e));

    [Fact]
    public void HalfAndBFloat()
    {
        var h = new byte[4];
        PutHalf(h, 0, 1.5f);
        PutHalf(h, 2, -0.125f);
        var y = new float[2];
        Dequantize.Row(GgmlType.F16, h, y);
        Assert.Equal([1.5f, -0.125f], y);
        var bf = new byte[] { 0xC0, 0x3F, 0x20, 0xC0 };
        Dequantize.Row(GgmlType.BF16, bf, y);
        Assert.Equal([1.5f, -2.5f], y);
    }
}

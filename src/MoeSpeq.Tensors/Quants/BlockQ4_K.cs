using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q4_K: 256 weights in 8 groups of 32, w = d·sc·q − dmin·m with 4-bit q and 6-bit sc, m packed in 12 bytes
/// (see <see cref="QuantMath.ScaleMinK4"/>). Each 64-element pair of groups uses 32 bytes of Qs: the low nibbles
/// are the first group, the high nibbles the second.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_K
{
    public const int Elements = 256;
    public const int Bytes = 144;

    public ushort D;
    public ushort DMin;
    public fixed byte Scales[12];
    public fixed byte Qs[128];

    internal static void Dequantize(BlockQ4_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = Fp16.ToSingle(x[i].D);
            float min = Fp16.ToSingle(x[i].DMin);
            byte* q = x[i].Qs;
            for (int g = 0; g < 8; g += 2, q += 32)
            {
                QuantMath.ScaleMinK4(g, x[i].Scales, out byte sc, out byte m);
                float d1 = d * sc, m1 = min * m;
                QuantMath.ScaleMinK4(g + 1, x[i].Scales, out sc, out m);
                float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
            }
        }
    }

    /// <summary>ggml's reference: make_qkx2_quants(nmax 15, weights rms + |x|, 21 steps from −1), 6-bit scales/mins, requantize.</summary>
    internal static void Quantize(float* x, BlockQ4_K* y, int blocks) => KQuantPacking.QuantizeQ4KOrQ5K(x, (byte*)y, blocks, nmax: 15);
}

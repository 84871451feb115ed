using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q5_K: as <see cref="BlockQ4_K"/> with a fifth bit per weight: for the 64-element pair p, bit 2p of Qh[l] is the
/// high bit of element l of the first group and bit 2p+1 that of the second.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_K
{
    public const int Elements = 256;
    public const int Bytes = 176;

    public ushort D;
    public ushort DMin;
    public fixed byte Scales[12];
    public fixed byte Qh[32];
    public fixed byte Qs[128];

    internal static void Dequantize(BlockQ5_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = Fp16.ToSingle(x[i].D);
            float min = Fp16.ToSingle(x[i].DMin);
            byte* ql = x[i].Qs;
            byte* qh = x[i].Qh;
            int u1 = 1, u2 = 2;
            for (int g = 0; g < 8; g += 2, ql += 32, u1 <<= 2, u2 <<= 2)
            {
                QuantMath.ScaleMinK4(g, x[i].Scales, out byte sc, out byte m);
                float d1 = d * sc, m1 = min * m;
                QuantMath.ScaleMinK4(g + 1, x[i].Scales, out sc, out m);
                float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }

    /// <summary>ggml's reference: make_qkx2_quants(nmax 31, weights rms + |x|, 16 steps from −0.5), 6-bit scales/mins, requantize.</summary>
    internal static void Quantize(float* x, BlockQ5_K* y, int blocks) => KQuantPacking.QuantizeQ4KOrQ5K(x, (byte*)y, blocks, nmax: 31);
}

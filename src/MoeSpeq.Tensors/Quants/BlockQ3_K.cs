using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q3_K: 256 weights in 16 groups of 16, w = d·sc·(q − 4) with 3-bit q and signed 6-bit sc. The two low bits of q
/// are packed like <see cref="BlockQ2_K"/>; bit (e / 32) of HMask[e % 32] is q's third bit (set means q ≥ 4).
/// Scales: 16 values offset by 32, low nibbles in bytes 0..7, high 2-bit pairs in bytes 8..11.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ3_K
{
    public const int Elements = 256;
    public const int Bytes = 110;

    public fixed byte HMask[32];
    public fixed byte Qs[64];
    public fixed byte Scales[12];
    public ushort D;

    internal static void Dequantize(BlockQ3_K* x, float* y, int blocks)
    {
        sbyte* scales = stackalloc sbyte[16];
        for (int i = 0; i < blocks; i++)
        {
            float dAll = Fp16.ToSingle(x[i].D);
            QuantMath.UnpackQ3KScales(x[i].Scales, scales);
            byte* q = x[i].Qs;
            byte* hm = x[i].HMask;
            int m = 1;
            int g = 0;
            for (int half = 0; half < 2; half++, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                {
                    for (int part = 0; part < 2; part++)
                    {
                        float dl = dAll * scales[g++];
                        for (int l = 16 * part; l < 16 * part + 16; l++)
                            *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));
                    }
                }
            }
        }
    }

    /// <summary>ggml's reference: per group make_q3_quants(nmax 4, rmse), scales to signed 6 bits, requantize to [−4, 3].</summary>
    internal static void Quantize(float* x, BlockQ3_K* y, int blocks)
    {
        sbyte* L = stackalloc sbyte[Elements];
        float* scales = stackalloc float[16];
        sbyte* sc = stackalloc sbyte[16];
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = KQuantSearch.MakeQ3Quants(16, 4, x + 16 * j, L + 16 * j, true);
                float scale = MathF.Abs(scales[j]);
                if (scale > amax) { amax = scale; maxScale = scales[j]; }
            }

            for (int j = 0; j < 12; j++) y[i].Scales[j] = 0;
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    int l = (sbyte)QuantMath.NearestInt(iscale * scales[j]);
                    l = Math.Max(-32, Math.Min(31, l)) + 32;
                    if (j < 8) y[i].Scales[j] = (byte)(l & 0xF);
                    else y[i].Scales[j - 8] |= (byte)((l & 0xF) << 4);
                    l >>= 4;
                    y[i].Scales[j % 4 + 8] |= (byte)(l << (2 * (j / 4)));
                }
                y[i].D = Fp16.FromSingle(1 / iscale);
            }
            else
            {
                y[i].D = Fp16.FromSingle(0f);
            }

            QuantMath.UnpackQ3KScales(y[i].Scales, sc);
            for (int j = 0; j < 16; j++)
            {
                float d = Fp16.ToSingle(y[i].D) * sc[j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = QuantMath.NearestInt(x[16 * j + ii] / d);
                    L[16 * j + ii] = (sbyte)(Math.Max(-4, Math.Min(3, l)) + 4);
                }
            }

            for (int j = 0; j < 32; j++) y[i].HMask[j] = 0;
            int m = 0;
            byte hm = 1;
            for (int j = 0; j < Elements; j++)
            {
                if (L[j] > 3)
                {
                    y[i].HMask[m] |= hm;
                    L[j] -= 4;
                }
                if (++m == 32) { m = 0; hm <<= 1; }
            }
            for (int j = 0; j < Elements; j += 128)
            {
                for (int l = 0; l < 32; l++)
                    y[i].Qs[j / 4 + l] = (byte)((byte)L[j + l] | ((byte)L[j + l + 32] << 2) | ((byte)L[j + l + 64] << 4) | ((byte)L[j + l + 96] << 6));
            }
        }
    }
}

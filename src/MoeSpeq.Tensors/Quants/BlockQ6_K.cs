using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q6_K: 256 weights in 16 groups of 16, w = d·sc·(q − 32) with 6-bit q and signed 8-bit sc. Per 128-element half:
/// Ql[l] holds the low nibbles of elements l (low) and l+64 (high), Ql[l+32] those of l+32 and l+96, and Qh[l] the
/// two high bits of l, l+32, l+64, l+96 at bit offsets 0, 2, 4, 6.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ6_K
{
    public const int Elements = 256;
    public const int Bytes = 210;

    public fixed byte Ql[128];
    public fixed byte Qh[64];
    public fixed sbyte Scales[16];
    public ushort D;

    internal static void Dequantize(BlockQ6_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = Fp16.ToSingle(x[i].D);
            byte* ql = x[i].Ql;
            byte* qh = x[i].Qh;
            sbyte* sc = x[i].Scales;
            for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8)
            {
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[s] * q1;
                    y[l + 32] = d * sc[s + 2] * q2;
                    y[l + 64] = d * sc[s + 4] * q3;
                    y[l + 96] = d * sc[s + 6] * q4;
                }
            }
        }
    }

    /// <summary>ggml's reference: per group make_qx_quants(nmax 32, x² weights), scales to signed 8 bits, requantize.</summary>
    internal static void Quantize(float* x, BlockQ6_K* y, int blocks)
    {
        sbyte* L = stackalloc sbyte[Elements];
        float* scales = stackalloc float[16];
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float maxScale = 0, maxAbsScale = 0;
            for (int g = 0; g < 16; g++)
            {
                float scale = KQuantSearch.MakeQxQuants(16, 32, x + 16 * g, L + 16 * g, 1);
                scales[g] = scale;
                if (MathF.Abs(scale) > maxAbsScale) { maxAbsScale = MathF.Abs(scale); maxScale = scale; }
            }

            if (maxAbsScale < KQuantSearch.GroupMaxEps)
            {
                new Span<byte>(&y[i], Bytes).Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            y[i].D = Fp16.FromSingle(1 / iscale);
            for (int g = 0; g < 16; g++) y[i].Scales[g] = (sbyte)Math.Min(127, QuantMath.NearestInt(iscale * scales[g]));

            for (int j = 0; j < 16; j++)
            {
                float d = Fp16.ToSingle(y[i].D) * y[i].Scales[j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = QuantMath.NearestInt(x[16 * j + ii] / d);
                    L[16 * j + ii] = (sbyte)(Math.Max(-32, Math.Min(31, l)) + 32);
                }
            }

            byte* ql = y[i].Ql;
            byte* qh = y[i].Qh;
            for (int j = 0; j < Elements; j += 128, ql += 64, qh += 32)
            {
                for (int l = 0; l < 32; l++)
                {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    ql[l] = (byte)(q1 | (q3 << 4));
                    ql[l + 32] = (byte)(q2 | (q4 << 4));
                    qh[l] = (byte)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
                }
            }
        }
    }
}

using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q2_K: 256 weights in 16 groups of 16, w = d·sc·q − dmin·m with 2-bit q, 4-bit sc (low nibble of Scales[g]) and
/// 4-bit m (high nibble). Each 128-element half uses 32 bytes of Qs: byte l holds elements l, l+32, l+64, l+96 at
/// bit offsets 0, 2, 4, 6.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ2_K
{
    public const int Elements = 256;
    public const int Bytes = 84;

    public fixed byte Scales[16];
    public fixed byte Qs[64];
    public ushort D;
    public ushort DMin;

    internal static void Dequantize(BlockQ2_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = Fp16.ToSingle(x[i].D);
            float min = Fp16.ToSingle(x[i].DMin);
            byte* q = x[i].Qs;
            int g = 0;
            for (int half = 0; half < 2; half++, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2)
                {
                    for (int part = 0; part < 2; part++)
                    {
                        byte sc = x[i].Scales[g++];
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int l = 0; l < 16; l++) *y++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    /// <summary>ggml's reference: per group make_qkx2_quants(nmax 3, |x| weights, MAD), scales and mins to 4 bits, requantize.</summary>
    internal static void Quantize(float* x, BlockQ2_K* y, int blocks)
    {
        byte* L = stackalloc byte[Elements];
        byte* laux = stackalloc byte[16];
        float* weights = stackalloc float[16];
        float* mins = stackalloc float[16];
        float* scales = stackalloc float[16];
        const float q4scale = 15f;

        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(x[16 * j + l]);
                scales[j] = KQuantSearch.MakeQkx2Quants(16, 3, x + 16 * j, weights, L + 16 * j, out mins[j], laux, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }

            if (maxScale > 0)
            {
                float iscale = q4scale / maxScale;
                for (int j = 0; j < 16; j++) y[i].Scales[j] = (byte)QuantMath.NearestInt(iscale * scales[j]);
                y[i].D = Fp16.FromSingle(maxScale / q4scale);
            }
            else
            {
                for (int j = 0; j < 16; j++) y[i].Scales[j] = 0;
                y[i].D = Fp16.FromSingle(0f);
            }
            if (maxMin > 0)
            {
                float iscale = q4scale / maxMin;
                for (int j = 0; j < 16; j++) y[i].Scales[j] |= (byte)(QuantMath.NearestInt(iscale * mins[j]) << 4);
                y[i].DMin = Fp16.FromSingle(maxMin / q4scale);
            }
            else
            {
                y[i].DMin = Fp16.FromSingle(0f);
            }

            for (int j = 0; j < 16; j++)
            {
                float d = Fp16.ToSingle(y[i].D) * (y[i].Scales[j] & 0xF);
                if (d == 0) continue;
                float dm = Fp16.ToSingle(y[i].DMin) * (y[i].Scales[j] >> 4);
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = QuantMath.NearestInt((x[16 * j + ii] + dm) / d);
                    L[16 * j + ii] = (byte)Math.Max(0, Math.Min(3, l));
                }
            }

            for (int j = 0; j < Elements; j += 128)
            {
                for (int l = 0; l < 32; l++)
                    y[i].Qs[j / 4 + l] = (byte)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
    }
}

using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q2_K · Q8_K: Σ_blocks dx·(dw·Σ_g sc_g·Σ q·qx − dmin·Σ_g m_g·bsum_g).</summary>
    static float Q2_KScalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ2_K*)w;
        var bx = (BlockQ8_K*)x;
        float sum = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* sc = bw[i].Scales;
            int sumMins = 0;
            for (int g = 0; g < 16; g++) sumMins += bx[i].BSums[g] * (sc[g] >> 4);
            int sumi = 0;
            for (int e = 0; e < 256; e++)
            {
                // Element e sits in byte (e / 128)·32 + e % 32 at bit offset 2·((e / 32) % 4).
                int q = (bw[i].Qs[(e / 128) * 32 + e % 32] >> (2 * ((e / 32) % 4))) & 3;
                sumi += (sc[e / 16] & 0xF) * q * bx[i].Qs[e];
            }
            float dx = bx[i].D;
            sum += dx * Fp16.Table[bw[i].D] * sumi - dx * Fp16.Table[bw[i].DMin] * sumMins;
        }
        return sum;
    }
}

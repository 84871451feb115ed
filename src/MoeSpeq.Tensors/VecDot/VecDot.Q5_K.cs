using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q5_K · Q8_K: as Q4_K with 5-bit levels.</summary>
    static float Q5_KScalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ5_K*)w;
        var bx = (BlockQ8_K*)x;
        float sum = 0;
        for (int i = 0; i < n / 256; i++)
        {
            int sumi = 0, sumMins = 0;
            for (int g = 0; g < 8; g++)
            {
                QuantMath.ScaleMinK4(g, bw[i].Scales, out byte sc, out byte m);
                sumMins += m * (bx[i].BSums[2 * g] + bx[i].BSums[2 * g + 1]);
                byte* q = bw[i].Qs + (g / 2) * 32;
                sbyte* a = bx[i].Qs + g * 32;
                int shift = (g & 1) * 4;
                int dot = 0;
                for (int l = 0; l < 32; l++) dot += (((q[l] >> shift) & 0xF) | (((bw[i].Qh[l] >> g) & 1) << 4)) * a[l];
                sumi += sc * dot;
            }
            float dx = bx[i].D;
            sum += Fp16.Table[bw[i].D] * dx * sumi - Fp16.Table[bw[i].DMin] * dx * sumMins;
        }
        return sum;
    }
}

using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q5_1 · Q8_1: Σ_blocks dw·dx·(Σ q·qx) + mw·sx.</summary>
    static float Q5_1Scalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ5_1*)w;
        var bx = (BlockQ8_1*)x;
        float sum = 0;
        for (int i = 0; i < n / 32; i++)
        {
            uint qh = *(uint*)bw[i].Qh;
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = (bw[i].Qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
                int q1 = (bw[i].Qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                sumi += q0 * bx[i].Qs[j] + q1 * bx[i].Qs[j + 16];
            }
            sum += Fp16.Table[bw[i].D] * Fp16.Table[bx[i].D] * sumi + Fp16.Table[bw[i].M] * Fp16.Table[bx[i].S];
        }
        return sum;
    }
}

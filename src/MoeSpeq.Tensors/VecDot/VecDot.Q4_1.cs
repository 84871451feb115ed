using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q4_1 · Q8_1: Σ_blocks dw·dx·(Σ q·qx) + mw·sx, where sx = dx·Σqx comes with the activation block.</summary>
    static float Q4_1Scalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ4_1*)w;
        var bx = (BlockQ8_1*)x;
        float sum = 0;
        for (int i = 0; i < n / 32; i++)
        {
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi += (bw[i].Qs[j] & 0x0F) * bx[i].Qs[j];
                sumi += (bw[i].Qs[j] >> 4) * bx[i].Qs[j + 16];
            }
            sum += Fp16.Table[bw[i].D] * Fp16.Table[bx[i].D] * sumi + Fp16.Table[bw[i].M] * Fp16.Table[bx[i].S];
        }
        return sum;
    }
}

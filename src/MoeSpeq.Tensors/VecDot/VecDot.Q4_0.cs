using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q4_0 · Q8_0: Σ_blocks (Σ (q − 8)·qx)·dw·dx.</summary>
    static float Q4_0Scalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ4_0*)w;
        var bx = (BlockQ8_0*)x;
        float sum = 0;
        for (int i = 0; i < n / 32; i++)
        {
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi += ((bw[i].Qs[j] & 0x0F) - 8) * bx[i].Qs[j];
                sumi += ((bw[i].Qs[j] >> 4) - 8) * bx[i].Qs[j + 16];
            }
            sum += sumi * Fp16.Table[bw[i].D] * Fp16.Table[bx[i].D];
        }
        return sum;
    }
}

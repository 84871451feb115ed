using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q3_K · Q8_K: Σ_blocks dw·dx·Σ_g sc_g·Σ (q − 4)·qx.</summary>
    static float Q3_KScalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ3_K*)w;
        var bx = (BlockQ8_K*)x;
        sbyte* scales = stackalloc sbyte[16];
        float sum = 0;
        for (int i = 0; i < n / 256; i++)
        {
            QuantMath.UnpackQ3KScales(bw[i].Scales, scales);
            int sumi = 0;
            for (int e = 0; e < 256; e++)
            {
                int low = (bw[i].Qs[(e / 128) * 32 + e % 32] >> (2 * ((e / 32) % 4))) & 3;
                int high = (bw[i].HMask[e % 32] >> (e / 32)) & 1;
                sumi += scales[e / 16] * (low + 4 * high - 4) * bx[i].Qs[e];
            }
            sum += Fp16.Table[bw[i].D] * bx[i].D * sumi;
        }
        return sum;
    }
}

using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q6_K · Q8_K: Σ_blocks dw·dx·Σ_g sc_g·Σ (q − 32)·qx.</summary>
    static float Q6_KScalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ6_K*)w;
        var bx = (BlockQ8_K*)x;
        float sum = 0;
        for (int i = 0; i < n / 256; i++)
        {
            int sumi = 0;
            for (int e = 0; e < 256; e++)
            {
                // Within a 128-element half h: element r = e % 128 takes its nibble from Ql[64h + r % 64]
                // (low for r < 64) and its high bits from Qh[32h + r % 32] at offset 2·(r / 32).
                int h = e / 128, r = e % 128;
                int low = (bw[i].Ql[64 * h + r % 64] >> (r < 64 ? 0 : 4)) & 0xF;
                int high = (bw[i].Qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
                sumi += bw[i].Scales[e / 16] * ((low | (high << 4)) - 32) * bx[i].Qs[e];
            }
            sum += Fp16.Table[bw[i].D] * bx[i].D * sumi;
        }
        return sum;
    }
}

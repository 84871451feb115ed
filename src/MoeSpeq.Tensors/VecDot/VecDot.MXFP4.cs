using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>MXFP4 · Q8_0: Σ_blocks (Σ level(q)·qx)·½·2^(e − 127)·dx, with the doubled E2M1 levels of <see cref="BlockMXFP4.Levels"/>.</summary>
    static float MXFP4Scalar(byte* w, byte* x, int n)
    {
        var bw = (BlockMXFP4*)w;
        var bx = (BlockQ8_0*)x;
        var levels = BlockMXFP4.Levels;
        float sum = 0;
        for (int i = 0; i < n / 32; i++)
        {
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi += levels[bw[i].Qs[j] & 0x0F] * bx[i].Qs[j];
                sumi += levels[bw[i].Qs[j] >> 4] * bx[i].Qs[j + 16];
            }
            sum += Fp16.Table[bx[i].D] * BlockMXFP4.HalfScale(bw[i].E) * sumi;
        }
        return sum;
    }
}

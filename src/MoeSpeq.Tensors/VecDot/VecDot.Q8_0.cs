using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Q8_0 · Q8_0: Σ_blocks (Σ qw·qx)·(dw·dx).</summary>
    static float Q8_0Scalar(byte* w, byte* x, int n)
    {
        var bw = (BlockQ8_0*)w;
        var bx = (BlockQ8_0*)x;
        float sum = 0;
        for (int i = 0; i < n / 32; i++)
        {
            int sumi = 0;
            for (int j = 0; j < 32; j++) sumi += bw[i].Qs[j] * bx[i].Qs[j];
            sum += sumi * (Fp16.Table[bw[i].D] * Fp16.Table[bx[i].D]);
        }
        return sum;
    }
}

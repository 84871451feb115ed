using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Two blocks per 512-bit step (one per 256-bit half), each half scaled by its own block's d.
    static float Q8_0Avx512(byte* w, byte* x, int n)
    {
        int blocks = n / 32;
        Vector512<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 4 <= blocks; i += 4)
        {
            PrefetchWeights(w + i * 34);
            PrefetchWeights(w + i * 34 + 64);
            PrefetchWeights(w + i * 34 + 128);
            acc0 = Q8_0PairAvx512(w + i * 34, x + i * 34, acc0);
            acc1 = Q8_0PairAvx512(w + i * 34 + 68, x + i * 34 + 68, acc1);
        }
        for (; i + 2 <= blocks; i += 2) acc0 = Q8_0PairAvx512(w + i * 34, x + i * 34, acc0);
        float sum = Vector512.Sum(acc0 + acc1);
        if (i < blocks) sum += Vector256.Sum(Q8_0BlockAvx2(w + i * 34, x + i * 34, default));
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Q8_0PairAvx512(byte* bw, byte* bx, Vector512<float> acc)
    {
        var qw = LoadBlockPair(bw);
        var qx = LoadBlockPair(bx);
        float* t = Fp16.Table;
        var d = Vector512.Create(Vector256.Create(t[*(ushort*)bw] * t[*(ushort*)bx]), Vector256.Create(t[*(ushort*)(bw + 34)] * t[*(ushort*)(bx + 34)]));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(DotI8I8(qw, qx)), d, acc);
    }
}

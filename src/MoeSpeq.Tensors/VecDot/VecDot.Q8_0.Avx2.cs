using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // One 34-byte block per 256-bit step; s8·s8 pair sums ≤ 2·128·127 < 2¹⁵.
    static float Q8_0Avx2(byte* w, byte* x, int n)
    {
        int blocks = n / 32;
        Vector256<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 2 <= blocks; i += 2)
        {
            PrefetchWeights(w + i * 34);
            PrefetchWeights(w + i * 34 + 64);
            acc0 = Q8_0BlockAvx2(w + i * 34, x + i * 34, acc0);
            acc1 = Q8_0BlockAvx2(w + i * 34 + 34, x + i * 34 + 34, acc1);
        }
        if (i < blocks) acc0 = Q8_0BlockAvx2(w + i * 34, x + i * 34, acc0);
        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Q8_0BlockAvx2(byte* bw, byte* bx, Vector256<float> acc)
    {
        var dot = DotI8I8(Avx.LoadVector256((sbyte*)(bw + 2)), Avx.LoadVector256((sbyte*)(bx + 2)));
        float d = Fp16.Table[*(ushort*)bw] * Fp16.Table[*(ushort*)bx];
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(d), acc);
    }
}

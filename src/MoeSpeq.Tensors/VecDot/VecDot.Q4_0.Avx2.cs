using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // The 16 nibble bytes expand to 32 levels (low nibbles = elements 0..15, high = 16..31), shifted to [−8, 8).
    static float Q4_0Avx2(byte* w, byte* x, int n)
    {
        int blocks = n / 32;
        Vector256<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 2 <= blocks; i += 2)
        {
            PrefetchWeights(w + i * 18);
            acc0 = Q4_0BlockAvx2(w + i * 18, x + i * 34, acc0);
            acc1 = Q4_0BlockAvx2(w + i * 18 + 18, x + i * 34 + 34, acc1);
        }
        if (i < blocks) acc0 = Q4_0BlockAvx2(w + i * 18, x + i * 34, acc0);
        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Q4_0BlockAvx2(byte* bw, byte* bx, Vector256<float> acc)
    {
        var packed = Sse2.LoadVector128(bw + 2);
        var mask = Vector128.Create((byte)0x0F);
        var levels = Vector256.Create(packed & mask, Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask);
        var q = (levels - Vector256.Create((byte)8)).AsSByte();
        var dot = DotI8I8(q, Avx.LoadVector256((sbyte*)(bx + 2)));
        float d = Fp16.Table[*(ushort*)bw] * Fp16.Table[*(ushort*)bx];
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(d), acc);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Two blocks per 512-bit step. Levels stay unsigned in [0, 16): Σ(q − 8)·x = Σq·x − 8·Σx, both as u8·s8
    // (pair sums ≤ 2·15·128 < 2¹⁵), which needs no byte sign instruction.
    static float Q4_0Avx512(byte* w, byte* x, int n)
    {
        int blocks = n / 32;
        Vector512<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 4 <= blocks; i += 4)
        {
            PrefetchWeights(w + i * 18);
            PrefetchWeights(w + i * 18 + 64);
            acc0 = Q4_0PairAvx512(w + i * 18, x + i * 34, acc0);
            acc1 = Q4_0PairAvx512(w + i * 18 + 36, x + i * 34 + 68, acc1);
        }
        for (; i + 2 <= blocks; i += 2) acc0 = Q4_0PairAvx512(w + i * 18, x + i * 34, acc0);
        float sum = Vector512.Sum(acc0 + acc1);
        if (i < blocks) sum += Vector256.Sum(Q4_0BlockAvx2(w + i * 18, x + i * 34, default));
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Q4_0PairAvx512(byte* bw, byte* bx, Vector512<float> acc)
    {
        var packed = Vector256.Create(Sse2.LoadVector128(bw + 2), Sse2.LoadVector128(bw + 20));
        var mask = Vector256.Create((byte)0x0F);
        var lo = packed & mask;                                                      // [block0 0..15 | block1 0..15]
        var hi = Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;      // [block0 16..31 | block1 16..31]
        // Reorder 64-bit quarters to [b0 lo, b0 hi, b1 lo, b1 hi] so each 256-bit half is one block in element order.
        var levels = Avx512F.PermuteVar8x64(Vector512.Create(lo, hi).AsUInt64(), Vector512.Create(0UL, 1, 4, 5, 2, 3, 6, 7)).AsByte();
        var xq = LoadBlockPair(bx);
        var dotQ = Avx512BW.MultiplyAddAdjacent(levels, xq);
        var dotEight = Avx512BW.MultiplyAddAdjacent(Vector512.Create((byte)8), xq);
        var dot = Avx512BW.MultiplyAddAdjacent(dotQ - dotEight, Vector512<short>.One);
        float* t = Fp16.Table;
        var d = Vector512.Create(Vector256.Create(t[*(ushort*)bw] * t[*(ushort*)bx]), Vector256.Create(t[*(ushort*)(bw + 18)] * t[*(ushort*)(bx + 34)]));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), d, acc);
    }
}

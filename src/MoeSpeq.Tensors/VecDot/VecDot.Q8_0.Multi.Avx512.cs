using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Two weight blocks per step: their magnitudes, signs and scales are computed once, then dotted with each
    // activation row. Each row keeps the single-row kernel's two accumulators (even pairs of blocks in one, odd pairs
    // in the other) and its scale products dw·dx, and Sum4 adds lanes in Vector512.Sum's order, so a row's result is
    // bit-identical to Q8_0Avx512's whatever batch it is part of.
    static void Q8_0MultiAvx512(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        int blocks = n / 32;
        if ((blocks & 1) != 0 || count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q8_0Avx512(w, x + k * xStride, n);
            return;
        }
        float* t = Fp16.Table;
        Vector512<float> even0 = default, even1 = default, even2 = default, even3 = default;
        Vector512<float> odd0 = default, odd1 = default, odd2 = default, odd3 = default;
        for (int i = 0, pair = 0; i < blocks; i += 2, pair++)
        {
            byte* bw = w + i * 34;
            var qw = LoadBlockPair(bw);
            var magnitude = Avx512BW.Abs(qw);
            var negative = Vector512.LessThan(qw, Vector512<sbyte>.Zero);
            var dw = ScalePair(t, bw);
            byte* bx = x + i * 34;
            if ((pair & 1) == 0)
            {
                even0 = Q8_0MultiStep(magnitude, negative, dw, t, bx, even0);
                even1 = Q8_0MultiStep(magnitude, negative, dw, t, bx + xStride, even1);
                if (count > 2) even2 = Q8_0MultiStep(magnitude, negative, dw, t, bx + 2 * xStride, even2);
                if (count > 3) even3 = Q8_0MultiStep(magnitude, negative, dw, t, bx + 3 * xStride, even3);
            }
            else
            {
                odd0 = Q8_0MultiStep(magnitude, negative, dw, t, bx, odd0);
                odd1 = Q8_0MultiStep(magnitude, negative, dw, t, bx + xStride, odd1);
                if (count > 2) odd2 = Q8_0MultiStep(magnitude, negative, dw, t, bx + 2 * xStride, odd2);
                if (count > 3) odd3 = Q8_0MultiStep(magnitude, negative, dw, t, bx + 3 * xStride, odd3);
            }
        }
        StoreRows(Sum4(even0 + odd0, even1 + odd1, even2 + odd2, even3 + odd3), y, yStride, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Q8_0MultiStep(Vector512<byte> magnitude, Vector512<sbyte> negative, Vector512<float> dw, float* t, byte* bx, Vector512<float> acc)
    {
        var qx = LoadBlockPair(bx);
        var signed = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - qx, qx);
        var dot = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(magnitude, signed), Vector512<short>.One);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), dw * ScalePair(t, bx), acc);
    }

    /// <summary>The two F16 scales of consecutive Q8_0 blocks, each in the 8 lanes of its block's half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> ScalePair(float* table, byte* block) =>
        Avx512F.InsertVector256(Vector256.Create(table[*(ushort*)block]).ToVector512Unsafe(), Vector256.Create(table[*(ushort*)(block + 34)]), 1);
}

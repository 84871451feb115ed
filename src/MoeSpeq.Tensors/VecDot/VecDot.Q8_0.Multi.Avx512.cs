using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Two weight blocks per step: their magnitudes and signs are computed once, then dotted with each activation row.
    // Each row keeps the single-row kernel's two accumulators (even pairs of blocks in one, odd pairs in the other)
    // and sums them the same way, so a row's result is bit-identical to Q8_0Avx512's whatever batch it is part of.
    static void Q8_0MultiAvx512(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        int blocks = n / 32;
        if ((blocks & 1) != 0 || count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q8_0Avx512(w, x + k * xStride, n);
            return;
        }
        Vector512<float> even0 = default, even1 = default, even2 = default, even3 = default;
        Vector512<float> odd0 = default, odd1 = default, odd2 = default, odd3 = default;
        for (int i = 0, pair = 0; i < blocks; i += 2, pair++)
        {
            byte* bw = w + i * 34;
            var qw = Vector512.Create(Avx.LoadVector256((sbyte*)(bw + 2)), Avx.LoadVector256((sbyte*)(bw + 36)));
            var magnitude = Avx512BW.Abs(qw);
            var negative = Vector512.LessThan(qw, Vector512<sbyte>.Zero);
            float* t = Fp16.Table;
            float dw0 = t[*(ushort*)bw], dw1 = t[*(ushort*)(bw + 34)];
            byte* bx = x + i * 34;
            if ((pair & 1) == 0)
            {
                even0 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx, even0);
                even1 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + xStride, even1);
                if (count > 2) even2 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + 2 * xStride, even2);
                if (count > 3) even3 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + 3 * xStride, even3);
            }
            else
            {
                odd0 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx, odd0);
                odd1 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + xStride, odd1);
                if (count > 2) odd2 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + 2 * xStride, odd2);
                if (count > 3) odd3 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + 3 * xStride, odd3);
            }
        }
        y[0] = Vector512.Sum(even0 + odd0);
        y[yStride] = Vector512.Sum(even1 + odd1);
        if (count > 2) y[2 * yStride] = Vector512.Sum(even2 + odd2);
        if (count > 3) y[3 * yStride] = Vector512.Sum(even3 + odd3);
    }

    static Vector512<float> Q8_0MultiStep(Vector512<byte> magnitude, Vector512<sbyte> negative, float dw0, float dw1, byte* bx, Vector512<float> acc)
    {
        var qx = Vector512.Create(Avx.LoadVector256((sbyte*)(bx + 2)), Avx.LoadVector256((sbyte*)(bx + 36)));
        var signed = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - qx, qx);
        var dot = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(magnitude, signed), Vector512<short>.One);
        float* t = Fp16.Table;
        var d = Vector512.Create(Vector256.Create(dw0 * t[*(ushort*)bx]), Vector256.Create(dw1 * t[*(ushort*)(bx + 34)]));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), d, acc);
    }
}

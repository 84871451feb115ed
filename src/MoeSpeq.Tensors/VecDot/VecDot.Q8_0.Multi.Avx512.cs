using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Two weight blocks per step: their magnitudes and signs are computed once, then dotted with each activation row.
    static void Q8_0MultiAvx512(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        int blocks = n / 32;
        if ((blocks & 1) != 0 || count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q8_0Avx512(w, x + k * xStride, n);
            return;
        }
        float* t = Fp16.Table;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < blocks; i += 2)
        {
            byte* bw = w + i * 34;
            var qw = Vector512.Create(Avx.LoadVector256((sbyte*)(bw + 2)), Avx.LoadVector256((sbyte*)(bw + 36)));
            var magnitude = Avx512BW.Abs(qw);
            var negative = Vector512.LessThan(qw, Vector512<sbyte>.Zero);
            float dw0 = t[*(ushort*)bw], dw1 = t[*(ushort*)(bw + 34)];
            byte* bx = x + i * 34;
            acc0 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx, acc0);
            acc1 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + xStride, acc1);
            if (count > 2) acc2 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + 2 * xStride, acc2);
            if (count > 3) acc3 = Q8_0MultiStep(magnitude, negative, dw0, dw1, bx + 3 * xStride, acc3);
        }
        y[0] = Vector512.Sum(acc0);
        y[yStride] = Vector512.Sum(acc1);
        if (count > 2) y[2 * yStride] = Vector512.Sum(acc2);
        if (count > 3) y[3 * yStride] = Vector512.Sum(acc3);
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

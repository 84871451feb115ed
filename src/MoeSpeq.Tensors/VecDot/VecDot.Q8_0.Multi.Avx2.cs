using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Each weight block's magnitudes are computed once and dotted with every activation row. A row keeps the
    // single-row kernel's two accumulators (even blocks in one, odd blocks in the other), and Sum4 adds their lanes
    // in Vector256.Sum's order, so its result is bit-identical to Q8_0Avx2's whatever batch it is part of.
    static void Q8_0MultiAvx2(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        if (count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q8_0Avx2(w, x + k * xStride, n);
            return;
        }
        int blocks = n / 32;
        float* t = Fp16.Table;
        Vector256<float> even0 = default, even1 = default, even2 = default, even3 = default;
        Vector256<float> odd0 = default, odd1 = default, odd2 = default, odd3 = default;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 34;
            byte* bx = x + i * 34;
            var qw = Avx.LoadVector256((sbyte*)(bw + 2));
            var magnitude = Avx2.Abs(qw);
            float dw = t[*(ushort*)bw];
            if ((i & 1) == 0)
            {
                even0 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx, even0);
                even1 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx + xStride, even1);
                if (count > 2) even2 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx + 2 * xStride, even2);
                if (count > 3) even3 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx + 3 * xStride, even3);
            }
            else
            {
                odd0 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx, odd0);
                odd1 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx + xStride, odd1);
                if (count > 2) odd2 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx + 2 * xStride, odd2);
                if (count > 3) odd3 = Q8_0MultiStepAvx2(qw, magnitude, dw, bx + 3 * xStride, odd3);
            }
        }
        StoreRows(Sum4(even0 + odd0, even1 + odd1, even2 + odd2, even3 + odd3), y, yStride, count);
    }

    static Vector256<float> Q8_0MultiStepAvx2(Vector256<sbyte> qw, Vector256<byte> magnitude, float dw, byte* bx, Vector256<float> acc)
    {
        var dot = DotU8I8(Vector256<int>.Zero, magnitude, Avx2.Sign(Avx.LoadVector256((sbyte*)(bx + 2)), qw));
        float d = dw * Fp16.Table[*(ushort*)bx];
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(d), acc);
    }
}

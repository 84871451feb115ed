using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // The block's levels and scale vectors are unpacked once per 64-element step and used for every activation row;
    // the scales come from a word permute as in the single-row kernel.
    static void Q4_KMultiAvx512(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        if (count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q4_KAvx512(w, x + k * xStride, n);
            return;
        }
        int blocks = n / 256;
        var mask = Vector512.Create((byte)0x0F);
        var shifts = NibbleShifts;
        var pick0 = ScalePick(0);
        float* t = Fp16.Table;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> min0 = default, min1 = default, min2 = default, min3 = default;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 144;
            byte* bx = x + i * 292;
            float dw = t[*(ushort*)bw], dmin = t[*(ushort*)(bw + 2)];
            var scalesMins = UnpackScalesMinsK4(bw + 4);
            var scales = Avx2.ConvertToVector256Int16(scalesMins).ToVector512Unsafe();
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default;
            byte* q = bw + 16;
            var pick = pick0;
            for (int p = 0; p < 4; p++, q += 32, pick += Vector512.Create((short)2))
            {
                var levels = Avx512BW.ShiftRightLogicalVariable(Vector512.Create(Avx.LoadVector256(q)).AsUInt16(), shifts).AsByte() & mask;
                var sc = Avx512BW.PermuteVar32x16(scales, pick);
                sbyte* a = (sbyte*)(bx + 4 + 64 * p);
                s0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(levels, Avx512F.LoadVector512(a)), sc);
                s1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(levels, Avx512F.LoadVector512(a + xStride)), sc);
                if (count > 2) s2 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(levels, Avx512F.LoadVector512(a + 2 * xStride)), sc);
                if (count > 3) s3 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(levels, Avx512F.LoadVector512(a + 3 * xStride)), sc);
            }
            Q4_KMultiFinish(bx, dw, dmin, scalesMins, s0, ref acc0, ref min0);
            Q4_KMultiFinish(bx + xStride, dw, dmin, scalesMins, s1, ref acc1, ref min1);
            if (count > 2) Q4_KMultiFinish(bx + 2 * xStride, dw, dmin, scalesMins, s2, ref acc2, ref min2);
            if (count > 3) Q4_KMultiFinish(bx + 3 * xStride, dw, dmin, scalesMins, s3, ref acc3, ref min3);
        }
        StoreRows(Sum4(acc0, acc1, acc2, acc3) - Sum4(min0, min1, min2, min3), y, yStride, count);
    }

    static void Q4_KMultiFinish(byte* bx, float dw, float dmin, Vector128<byte> scalesMins, Vector512<int> sumi, ref Vector512<float> acc, ref Vector256<float> accMin)
    {
        float dx = *(float*)bx;
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(dw * dx), acc);
        accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinsTimesBSums(scalesMins, (short*)(bx + 260))), Vector256.Create(dmin * dx), accMin);
    }
}

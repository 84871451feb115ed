using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Levels of each 128-element half and their scale vectors are built once and used for every activation row.
    static void Q6_KMultiAvx512(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        if (count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q6_KAvx512(w, x + k * xStride, n);
            return;
        }
        int blocks = n / 256;
        var low4 = Vector512.Create((byte)0x0F);
        var high2 = Vector512.Create((byte)0x30);
        var shiftA = Q6KShiftA;
        var shiftB = Q6KShiftB;
        var spread0 = Q6KSpread0;
        var spread1 = Q6KSpread1;
        var spread2 = Q6KSpread2;
        var spread3 = Q6KSpread3;
        float* t = Fp16.Table;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 210;
            byte* bx = x + i * 292;
            var scales16 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128((sbyte*)(bw + 192)));
            var sc = scales16.ToVector512Unsafe();
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int h = 0; h < 2; h++)
            {
                var ql = Avx512F.LoadVector512(bw + 64 * h);
                var qh = LoadIntoBothHalves(bw + 128 + 32 * h).AsUInt16();
                var qA = (ql & low4) | (Avx512BW.ShiftLeftLogicalVariable(qh, shiftA).AsByte() & high2);
                var qB = ((ql.AsUInt16() >> 4).AsByte() & low4) | (Avx512BW.ShiftRightLogicalVariable(qh, shiftB).AsByte() & high2);
                var scA = Avx512BW.PermuteVar32x16(sc, h == 0 ? spread0 : spread2);
                var scB = Avx512BW.PermuteVar32x16(sc, h == 0 ? spread1 : spread3);
                sbyte* a = (sbyte*)(bx + 4 + 128 * h);
                s0 += Q6KMultiStep(qA, qB, scA, scB, a);
                s1 += Q6KMultiStep(qA, qB, scA, scB, a + xStride);
                if (count > 2) s2 += Q6KMultiStep(qA, qB, scA, scB, a + 2 * xStride);
                if (count > 3) s3 += Q6KMultiStep(qA, qB, scA, scB, a + 3 * xStride);
            }
            float dw = t[*(ushort*)(bw + 208)];
            acc0 = Q6KMultiFinish(bx, dw, scales16, s0, acc0);
            acc1 = Q6KMultiFinish(bx + xStride, dw, scales16, s1, acc1);
            if (count > 2) acc2 = Q6KMultiFinish(bx + 2 * xStride, dw, scales16, s2, acc2);
            if (count > 3) acc3 = Q6KMultiFinish(bx + 3 * xStride, dw, scales16, s3, acc3);
        }
        StoreRows(Sum4(acc0, acc1, acc2, acc3), y, yStride, count);
    }

    static Vector512<int> Q6KMultiStep(Vector512<byte> qA, Vector512<byte> qB, Vector512<short> scA, Vector512<short> scB, sbyte* a) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(qA, Avx512F.LoadVector512(a)), scA)
        + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(qB, Avx512F.LoadVector512(a + 64)), scB);

    /// <summary>Removes the −32 level offset (32·Σ sc·bsum) and accumulates the block with its scale dw·dx.</summary>
    static Vector512<float> Q6KMultiFinish(byte* bx, float dw, Vector256<short> scales16, Vector512<int> sumi, Vector512<float> acc)
    {
        var offset = Avx2.MultiplyAddAdjacent(Avx.LoadVector256((short*)(bx + 260)), scales16);
        var total = Avx512F.ConvertToVector512Single(sumi) - Avx.ConvertToVector256Single(offset << 5).ToVector512();
        return Avx512F.FusedMultiplyAdd(total, Vector512.Create(dw * *(float*)bx), acc);
    }
}

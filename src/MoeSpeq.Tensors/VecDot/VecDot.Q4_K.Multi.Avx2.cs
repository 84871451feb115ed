using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // A block's nibbles and scales are unpacked once per 64-element step and used for every activation row; each
    // row's sums follow Q4_KAvx2's order, so a row's result is bit-identical to it whatever batch it is part of.
    static void Q4_KMultiAvx2(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        if (count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q4_KAvx2(w, x + k * xStride, n);
            return;
        }
        int blocks = n / 256;
        var mask = Vector256.Create((byte)0x0F);
        float* t = Fp16.Table;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> min0 = default, min1 = default, min2 = default, min3 = default;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 144;
            byte* bx = x + i * 292;
            float dw = t[*(ushort*)bw], dmin = t[*(ushort*)(bw + 2)];
            var scalesMins = UnpackScalesMinsK4(bw + 4);
            Q4_KMultiMins(bx, dmin, scalesMins, ref min0);
            Q4_KMultiMins(bx + xStride, dmin, scalesMins, ref min1);
            if (count > 2) Q4_KMultiMins(bx + 2 * xStride, dmin, scalesMins, ref min2);
            if (count > 3) Q4_KMultiMins(bx + 3 * xStride, dmin, scalesMins, ref min3);

            var scales = Avx2.Permute4x64(Avx2.ConvertToVector256Int16(scalesMins).AsUInt64(), 0b01_00_01_00).AsByte();
            byte* q = bw + 16;
            sbyte* a = (sbyte*)(bx + 4);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            Q4_KMultiStepAvx2(q, a, xStride, count, mask, Avx2.Shuffle(scales, K4Pick0).AsInt16(), Avx2.Shuffle(scales, K4Pick1).AsInt16(), ref s0, ref s1, ref s2, ref s3);
            Q4_KMultiStepAvx2(q + 32, a + 64, xStride, count, mask, Avx2.Shuffle(scales, K4Pick2).AsInt16(), Avx2.Shuffle(scales, K4Pick3).AsInt16(), ref s0, ref s1, ref s2, ref s3);
            Q4_KMultiStepAvx2(q + 64, a + 128, xStride, count, mask, Avx2.Shuffle(scales, K4Pick4).AsInt16(), Avx2.Shuffle(scales, K4Pick5).AsInt16(), ref s0, ref s1, ref s2, ref s3);
            Q4_KMultiStepAvx2(q + 96, a + 192, xStride, count, mask, Avx2.Shuffle(scales, K4Pick6).AsInt16(), Avx2.Shuffle(scales, K4Pick7).AsInt16(), ref s0, ref s1, ref s2, ref s3);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(dw * *(float*)bx), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(dw * *(float*)(bx + xStride)), acc1);
            if (count > 2) acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(dw * *(float*)(bx + 2 * xStride)), acc2);
            if (count > 3) acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(dw * *(float*)(bx + 3 * xStride)), acc3);
        }
        StoreRows(Sum4(acc0, acc1, acc2, acc3) - Sum4(min0, min1, min2, min3), y, yStride, count);
    }

    static void Q4_KMultiMins(byte* bx, float dmin, Vector128<byte> scalesMins, ref Vector256<float> accMin) =>
        accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinsTimesBSums(scalesMins, (short*)(bx + 260))), Vector256.Create(dmin * *(float*)bx), accMin);

    /// <summary>One 64-element step of every row: the 32 packed bytes are unpacked once, then dotted with each row's activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Q4_KMultiStepAvx2(byte* q, sbyte* a, nint xStride, int count, Vector256<byte> mask, Vector256<short> scaleLow, Vector256<short> scaleHigh,
        ref Vector256<int> s0, ref Vector256<int> s1, ref Vector256<int> s2, ref Vector256<int> s3)
    {
        var packed = Avx.LoadVector256(q);
        var lo = packed & mask;
        var hi = Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
        s0 = Q4_KRowStepAvx2(lo, hi, scaleLow, scaleHigh, a, s0);
        s1 = Q4_KRowStepAvx2(lo, hi, scaleLow, scaleHigh, a + xStride, s1);
        if (count > 2) s2 = Q4_KRowStepAvx2(lo, hi, scaleLow, scaleHigh, a + 2 * xStride, s2);
        if (count > 3) s3 = Q4_KRowStepAvx2(lo, hi, scaleLow, scaleHigh, a + 3 * xStride, s3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Q4_KRowStepAvx2(Vector256<byte> lo, Vector256<byte> hi, Vector256<short> scaleLow, Vector256<short> scaleHigh, sbyte* a, Vector256<int> sumi)
    {
        sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(lo, Avx.LoadVector256(a)), scaleLow);
        return MaddAcc(sumi, Avx2.MultiplyAddAdjacent(hi, Avx.LoadVector256(a + 32)), scaleHigh);
    }
}

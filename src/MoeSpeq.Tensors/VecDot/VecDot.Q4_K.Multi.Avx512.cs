using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>Activation rows <see cref="Q4_KMultiAvx512"/> takes per call.</summary>
    const int Q4_KMultiRowsAvx512 = 8;

    // A block's four level vectors and scale vectors (about half the work of a row's dot) are unpacked once and
    // held in registers while every activation row is dotted with them, row after row, so the unpacking is shared by
    // eight rows and a row needs one integer accumulator, not four. Integer sums are exact in any order, and the
    // float steps per row (one FMA per block, Sum4 in Vector512.Sum's order) are Q4_KAvx512's, so a row's result is
    // bit-identical to the single-row kernel's whatever batch it is part of.
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
        Vector512<short> pick0 = ScalePick(0), pick1 = ScalePick(1), pick2 = ScalePick(2), pick3 = ScalePick(3);
        float* t = Fp16.Table;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default, acc4 = default, acc5 = default, acc6 = default, acc7 = default;
        Vector256<float> min0 = default, min1 = default, min2 = default, min3 = default, min4 = default, min5 = default, min6 = default, min7 = default;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 144;
            byte* bx = x + i * 292;
            var block = new Q4_KUnpacked
            {
                Dw = t[*(ushort*)bw],
                Dmin = t[*(ushort*)(bw + 2)],
                ScalesMins = UnpackScalesMinsK4(bw + 4),
            };
            var scales = Avx2.ConvertToVector256Int16(block.ScalesMins).ToVector512Unsafe();
            block.Sc0 = Avx512BW.PermuteVar32x16(scales, pick0);
            block.Sc1 = Avx512BW.PermuteVar32x16(scales, pick1);
            block.Sc2 = Avx512BW.PermuteVar32x16(scales, pick2);
            block.Sc3 = Avx512BW.PermuteVar32x16(scales, pick3);
            block.Levels0 = Q4_KLevels(bw + 16, mask, shifts);
            block.Levels1 = Q4_KLevels(bw + 48, mask, shifts);
            block.Levels2 = Q4_KLevels(bw + 80, mask, shifts);
            block.Levels3 = Q4_KLevels(bw + 112, mask, shifts);
            Q4_KMultiRow(block, bx, ref acc0, ref min0);
            Q4_KMultiRow(block, bx + xStride, ref acc1, ref min1);
            if (count > 2) Q4_KMultiRow(block, bx + 2 * xStride, ref acc2, ref min2);
            if (count > 3) Q4_KMultiRow(block, bx + 3 * xStride, ref acc3, ref min3);
            if (count > 4) Q4_KMultiRow(block, bx + 4 * xStride, ref acc4, ref min4);
            if (count > 5) Q4_KMultiRow(block, bx + 5 * xStride, ref acc5, ref min5);
            if (count > 6) Q4_KMultiRow(block, bx + 6 * xStride, ref acc6, ref min6);
            if (count > 7) Q4_KMultiRow(block, bx + 7 * xStride, ref acc7, ref min7);
        }
        StoreRows(Sum4(acc0, acc1, acc2, acc3) - Sum4(min0, min1, min2, min3), y, yStride, Math.Min(count, 4));
        if (count > 4) StoreRows(Sum4(acc4, acc5, acc6, acc7) - Sum4(min4, min5, min6, min7), y + 4 * yStride, yStride, count - 4);
    }

    /// <summary>One Q4_K block unpacked for dotting with several activation rows.</summary>
    struct Q4_KUnpacked
    {
        public float Dw, Dmin;
        public Vector128<byte> ScalesMins;
        public Vector512<byte> Levels0, Levels1, Levels2, Levels3;
        public Vector512<short> Sc0, Sc1, Sc2, Sc3;
    }

    /// <summary>One activation row's block: the four scaled step sums, then the block's FMA and min correction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Q4_KMultiRow(in Q4_KUnpacked block, byte* bx, ref Vector512<float> acc, ref Vector256<float> accMin)
    {
        sbyte* a = (sbyte*)(bx + 4);
        var sumi = Q4_KScaledPairs(block.Levels0, a, block.Sc0) + Q4_KScaledPairs(block.Levels1, a + 64, block.Sc1)
            + Q4_KScaledPairs(block.Levels2, a + 128, block.Sc2) + Q4_KScaledPairs(block.Levels3, a + 192, block.Sc3);
        float dx = *(float*)bx;
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(block.Dw * dx), acc);
        accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinsTimesBSums(block.ScalesMins, (short*)(bx + 260))), Vector256.Create(block.Dmin * dx), accMin);
    }
}

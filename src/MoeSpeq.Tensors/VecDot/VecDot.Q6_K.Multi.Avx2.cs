using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Each 128-element half's levels and scale vectors are built once and used for every activation row; a row's
    // sums follow Q6_KAvx2's order, so its result is bit-identical to it whatever batch it is part of.
    static void Q6_KMultiAvx2(byte* w, byte* x, nint xStride, int n, float* y, nint yStride, int count)
    {
        if (count < 2)
        {
            for (int k = 0; k < count; k++) y[k * yStride] = Q6_KAvx2(w, x + k * xStride, n);
            return;
        }
        int blocks = n / 256;
        float* t = Fp16.Table;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 210;
            byte* bx = x + i * 292;
            var scales16 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128((sbyte*)(bw + 192)));
            var s0 = Q6_KMultiOffset(bx, scales16);
            var s1 = Q6_KMultiOffset(bx + xStride, scales16);
            var s2 = count > 2 ? Q6_KMultiOffset(bx + 2 * xStride, scales16) : default;
            var s3 = count > 3 ? Q6_KMultiOffset(bx + 3 * xStride, scales16) : default;
            var scalesLow = Avx2.Permute4x64(scales16.AsUInt64(), 0b01_00_01_00).AsByte();
            var scalesHigh = Avx2.Permute4x64(scales16.AsUInt64(), 0b11_10_11_10).AsByte();
            for (int h = 0; h < 2; h++)
            {
                var levels = Q6KLevels.Of(bw, h, h == 0 ? scalesLow : scalesHigh);
                sbyte* a = (sbyte*)(bx + 4 + 128 * h);
                s0 = levels.Dot(a, s0);
                s1 = levels.Dot(a + xStride, s1);
                if (count > 2) s2 = levels.Dot(a + 2 * xStride, s2);
                if (count > 3) s3 = levels.Dot(a + 3 * xStride, s3);
            }
            float dw = t[*(ushort*)(bw + 208)];
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(dw * *(float*)bx), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(dw * *(float*)(bx + xStride)), acc1);
            if (count > 2) acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(dw * *(float*)(bx + 2 * xStride)), acc2);
            if (count > 3) acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(dw * *(float*)(bx + 3 * xStride)), acc3);
        }
        StoreRows(Sum4(acc0, acc1, acc2, acc3), y, yStride, count);
    }

    /// <summary>A row's block sum starts at −32·Σ_g sc_g·bsum_g, the levels' offset taken out once.</summary>
    static Vector256<int> Q6_KMultiOffset(byte* bx, Vector256<short> scales16) =>
        Vector256<int>.Zero - (Avx2.MultiplyAddAdjacent(Avx.LoadVector256((short*)(bx + 260)), scales16) << 5);

    /// <summary>The four 32-byte level vectors of a Q6_K half block and the scale vector of each.</summary>
    readonly struct Q6KLevels(Vector256<byte> q0, Vector256<byte> q1, Vector256<byte> q2, Vector256<byte> q3,
        Vector256<short> sc0, Vector256<short> sc1, Vector256<short> sc2, Vector256<short> sc3)
    {
        /// <summary>Half <paramref name="h"/> of the block at <paramref name="bw"/>; <paramref name="scales"/> holds that half's 8 scales as words in both lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Q6KLevels Of(byte* bw, int h, Vector256<byte> scales)
        {
            var low4 = Vector256.Create((byte)0x0F);
            var high2 = Vector256.Create((byte)0x30);
            byte* ql = bw + 64 * h;
            var ql0 = Avx.LoadVector256(ql);
            var ql1 = Avx.LoadVector256(ql + 32);
            var qh = Avx.LoadVector256(bw + 128 + 32 * h).AsUInt16();
            return new Q6KLevels(
                (ql0 & low4) | ((qh << 4).AsByte() & high2),
                (ql1 & low4) | ((qh << 2).AsByte() & high2),
                ((ql0.AsUInt16() >> 4).AsByte() & low4) | (qh.AsByte() & high2),
                ((ql1.AsUInt16() >> 4).AsByte() & low4) | ((qh >> 2).AsByte() & high2),
                Avx2.Shuffle(scales, ScaleShuffle0).AsInt16(), Avx2.Shuffle(scales, ScaleShuffle1).AsInt16(),
                Avx2.Shuffle(scales, ScaleShuffle2).AsInt16(), Avx2.Shuffle(scales, ScaleShuffle3).AsInt16());
        }

        /// <summary>sumi + Σ over the half's 8 groups of scale · (levels · a), a being the half's 128 activations.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<int> Dot(sbyte* a, Vector256<int> sumi)
        {
            sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(q0, Avx.LoadVector256(a)), sc0);
            sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(q1, Avx.LoadVector256(a + 32)), sc1);
            sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(q2, Avx.LoadVector256(a + 64)), sc2);
            return MaddAcc(sumi, Avx2.MultiplyAddAdjacent(q3, Avx.LoadVector256(a + 96)), sc3);
        }
    }
}

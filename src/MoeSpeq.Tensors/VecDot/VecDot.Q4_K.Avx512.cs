using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Each 512-bit step takes 32 packed bytes into both halves, shifts the upper half by 4 so it holds the high
    // nibbles, and so covers two 32-element groups against 64 contiguous activation bytes. The step's two scales
    // come from one word permute of the block's widened scales: building them from scalar bytes (extract, broadcast,
    // insert) cost more than the dot products themselves.
    static float Q4_KAvx512(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector512<float> acc = default;
        Vector256<float> accMin = default;
        var mask = Vector512.Create((byte)0x0F);
        var shifts = NibbleShifts;
        Vector512<short> pick0 = ScalePick(0), pick1 = ScalePick(1), pick2 = ScalePick(2), pick3 = ScalePick(3);
        float* t = Fp16.Table;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 144;
            PrefetchWeights(bw);
            PrefetchWeights(bw + 64);
            PrefetchWeights(bw + 128);
            byte* bx = x + i * 292;
            float dx = *(float*)bx;
            sbyte* a = (sbyte*)(bx + 4);
            var scalesMins = UnpackScalesMinsK4(bw + 4);
            accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinsTimesBSums(scalesMins, (short*)(bx + 260))), Vector256.Create(t[*(ushort*)(bw + 2)] * dx), accMin);

            // 6-bit scales times levels ≤ 15 times |a| ≤ 128, pairwise: below 2¹⁵ before vpmaddwd widens.
            var scales = Avx2.ConvertToVector256Int16(scalesMins).ToVector512Unsafe();
            var sumi = Q4_KStep(bw + 16, a, Avx512BW.PermuteVar32x16(scales, pick0), mask, shifts);
            sumi += Q4_KStep(bw + 48, a + 64, Avx512BW.PermuteVar32x16(scales, pick1), mask, shifts);
            sumi += Q4_KStep(bw + 80, a + 128, Avx512BW.PermuteVar32x16(scales, pick2), mask, shifts);
            sumi += Q4_KStep(bw + 112, a + 192, Avx512BW.PermuteVar32x16(scales, pick3), mask, shifts);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(t[*(ushort*)bw] * dx), acc);
        }
        return Vector512.Sum(acc) - Vector256.Sum(accMin);
    }

    /// <summary>Scaled level·activation pair sums of one 64-element step: groups 2p (low half) and 2p+1 (high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Q4_KStep(byte* q, sbyte* a, Vector512<short> sc, Vector512<byte> mask, Vector512<ushort> shifts)
        => Q4_KScaledPairs(Q4_KLevels(q, mask, shifts), a, sc);

    /// <summary>Σ of each pair of level·activation products, times its group's scale, for one 64-element step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Q4_KScaledPairs(Vector512<byte> levels, sbyte* a, Vector512<short> sc) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(levels, Avx512F.LoadVector512(a)), sc);

    /// <summary>Levels of one 64-element step: the 32 packed bytes' low nibbles in the low half, high nibbles in the high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> Q4_KLevels(byte* q, Vector512<byte> mask, Vector512<ushort> shifts) =>
        Avx512BW.ShiftRightLogicalVariable(LoadIntoBothHalves(q).AsUInt16(), shifts).AsByte() & mask;

    /// <summary>vpermw indices that put scale 2p in every word of the low half and scale 2p+1 in the high half.</summary>
    static Vector512<short> ScalePick(int p) => Vector512.Create(Vector256.Create((short)(2 * p)), Vector256.Create((short)(2 * p + 1)));

    /// <summary>Per-word right shifts 0 for the low 256 bits and 4 for the high: one load yields low and high nibbles.</summary>
    static readonly Vector512<ushort> NibbleShifts = Vector512.Create(Vector256<ushort>.Zero, Vector256.Create((ushort)4));
}

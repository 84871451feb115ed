using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Per 128-element half: the 64 low-nibble bytes give elements 0..63 (low nibbles) and 64..127 (high nibbles);
    // the 32 high-bit bytes are broadcast to both 256-bit halves and shifted per half into place.
    static float Q6_KAvx512(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector512<float> acc = default;
        var low4 = Vector512.Create((byte)0x0F);
        var high2 = Vector512.Create((byte)0x30);
        var shiftA = Q6KShiftA;
        var shiftB = Q6KShiftB;
        var spread0 = Q6KSpread0;
        var spread1 = Q6KSpread1;
        var spread2 = Q6KSpread2;
        var spread3 = Q6KSpread3;
        float* t = Fp16.Table;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 210;
            PrefetchWeights(bw);
            PrefetchWeights(bw + 64);
            PrefetchWeights(bw + 128);
            PrefetchWeights(bw + 192);
            byte* bx = x + i * 292;
            sbyte* a = (sbyte*)(bx + 4);
            var scales16 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128((sbyte*)(bw + 192)));
            var offset = Avx2.MultiplyAddAdjacent(Avx.LoadVector256((short*)(bx + 260)), scales16);
            var sc = scales16.ToVector512Unsafe();
            var sumi = Vector512<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var ql = Avx512F.LoadVector512(bw + 64 * h);
                var qh = LoadIntoBothHalves(bw + 128 + 32 * h).AsUInt16();
                var qA = (ql & low4) | (Avx512BW.ShiftLeftLogicalVariable(qh, shiftA).AsByte() & high2);
                var qB = ((ql.AsUInt16() >> 4).AsByte() & low4) | (Avx512BW.ShiftRightLogicalVariable(qh, shiftB).AsByte() & high2);
                var pA = Avx512BW.MultiplyAddAdjacent(qA, Avx512F.LoadVector512(a + 128 * h));
                var pB = Avx512BW.MultiplyAddAdjacent(qB, Avx512F.LoadVector512(a + 128 * h + 64));
                sumi += Avx512BW.MultiplyAddAdjacent(pA, Avx512BW.PermuteVar32x16(sc, h == 0 ? spread0 : spread2));
                sumi += Avx512BW.MultiplyAddAdjacent(pB, Avx512BW.PermuteVar32x16(sc, h == 0 ? spread1 : spread3));
            }
            float d = t[*(ushort*)(bw + 208)] * *(float*)bx;
            var total = Avx512F.ConvertToVector512Single(sumi) - Avx.ConvertToVector256Single(offset << 5).ToVector512();
            acc = Avx512F.FusedMultiplyAdd(total, Vector512.Create(d), acc);
        }
        return Vector512.Sum(acc);
    }

    // Static readonly vectors are constants to the tier-1 JIT, so the kernels do not rebuild them per call.
    static readonly Vector512<ushort> Q6KShiftA = Vector512.Create(Vector256.Create((ushort)4), Vector256.Create((ushort)2)); // left: elements 0..31, 32..63
    static readonly Vector512<ushort> Q6KShiftB = Vector512.Create(Vector256<ushort>.Zero, Vector256.Create((ushort)2));      // right: elements 64..95, 96..127
    // Word indices spreading 4 consecutive scales over 8 words each: groups g..g+3 of a 64-element step.
    static readonly Vector512<short> Q6KSpread0 = Q6KScaleSpread(0);
    static readonly Vector512<short> Q6KSpread1 = Q6KScaleSpread(4);
    static readonly Vector512<short> Q6KSpread2 = Q6KScaleSpread(8);
    static readonly Vector512<short> Q6KSpread3 = Q6KScaleSpread(12);

    static Vector512<short> Q6KScaleSpread(int first)
    {
        Span<short> idx = stackalloc short[32];
        for (int j = 0; j < 32; j++) idx[j] = (short)(first + j / 8);
        return Vector512.Create<short>(idx);
    }
}

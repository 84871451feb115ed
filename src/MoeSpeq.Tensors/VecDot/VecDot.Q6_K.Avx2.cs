using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Levels are dotted unsigned in [0, 64) (pair sums ≤ 2·63·128 < 2¹⁵); the −32 offset is taken out once per
    // block as 32·Σ_g sc_g·bsum_g.
    static float Q6_KAvx2(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector256<float> acc = default;
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
            var sumi = Vector256<int>.Zero - (offset << 5);
            // Each half's 8 scales in both 128-bit lanes, so in-lane shuffles can broadcast any of them.
            var scalesLow = Avx2.Permute4x64(scales16.AsUInt64(), 0b01_00_01_00).AsByte();
            var scalesHigh = Avx2.Permute4x64(scales16.AsUInt64(), 0b11_10_11_10).AsByte();
            sumi = Q6KLevels.Of(bw, 0, scalesLow).Dot(a, sumi);
            sumi = Q6KLevels.Of(bw, 1, scalesHigh).Dot(a + 128, sumi);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(t[*(ushort*)(bw + 208)] * *(float*)bx), acc);
        }
        return Vector256.Sum(acc);
    }

    // Static readonly vectors are constants to the tier-1 JIT, so the kernels do not rebuild them per call.
    static readonly Vector256<byte> ScaleShuffle0 = Q6KScaleShuffle(0);
    static readonly Vector256<byte> ScaleShuffle1 = Q6KScaleShuffle(1);
    static readonly Vector256<byte> ScaleShuffle2 = Q6KScaleShuffle(2);
    static readonly Vector256<byte> ScaleShuffle3 = Q6KScaleShuffle(3);

    /// <summary>Byte shuffle putting 16-bit scale 2k in every word of the low lane and scale 2k+1 in the high lane.</summary>
    static Vector256<byte> Q6KScaleShuffle(int k)
    {
        byte a = (byte)(4 * k), b = (byte)(4 * k + 2);
        return Vector256.Create(Vector128.Create(a, (byte)(a + 1), a, (byte)(a + 1), a, (byte)(a + 1), a, (byte)(a + 1), a, (byte)(a + 1), a, (byte)(a + 1), a, (byte)(a + 1), a, (byte)(a + 1)),
                                Vector128.Create(b, (byte)(b + 1), b, (byte)(b + 1), b, (byte)(b + 1), b, (byte)(b + 1), b, (byte)(b + 1), b, (byte)(b + 1), b, (byte)(b + 1), b, (byte)(b + 1)));
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Per 256-element block: 4 steps of 32 packed bytes = two 32-element groups (low, high nibbles). u8·s8 pair sums
    // ≤ 2·15·128 < 2¹⁵, then times the group's 6-bit scale in 32 bits. Mins are applied once per block via bsums.
    static float Q4_KAvx2(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector256<float> acc = default, accMin = default;
        var mask = Vector256.Create((byte)0x0F);
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

            // The 8 scales as words in both lanes; an in-lane byte shuffle broadcasts any one of them.
            var scales = Avx2.Permute4x64(Avx2.ConvertToVector256Int16(scalesMins).AsUInt64(), 0b01_00_01_00).AsByte();
            byte* q = bw + 16;
            var sumi = Q4_KStepAvx2(q, a, mask, Avx2.Shuffle(scales, K4Pick0).AsInt16(), Avx2.Shuffle(scales, K4Pick1).AsInt16(), Vector256<int>.Zero);
            sumi = Q4_KStepAvx2(q + 32, a + 64, mask, Avx2.Shuffle(scales, K4Pick2).AsInt16(), Avx2.Shuffle(scales, K4Pick3).AsInt16(), sumi);
            sumi = Q4_KStepAvx2(q + 64, a + 128, mask, Avx2.Shuffle(scales, K4Pick4).AsInt16(), Avx2.Shuffle(scales, K4Pick5).AsInt16(), sumi);
            sumi = Q4_KStepAvx2(q + 96, a + 192, mask, Avx2.Shuffle(scales, K4Pick6).AsInt16(), Avx2.Shuffle(scales, K4Pick7).AsInt16(), sumi);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(t[*(ushort*)bw] * dx), acc);
        }
        return Vector256.Sum(acc) - Vector256.Sum(accMin);
    }

    /// <summary>One 64-element step: 32 packed bytes, low nibbles dotted with a[0..32), high with a[32..64), each times its group's scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Q4_KStepAvx2(byte* q, sbyte* a, Vector256<byte> mask, Vector256<short> scaleLow, Vector256<short> scaleHigh, Vector256<int> sumi)
    {
        var packed = Avx.LoadVector256(q);
        var lo = packed & mask;
        var hi = Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
        return Q4_KRowStepAvx2(lo, hi, scaleLow, scaleHigh, a, sumi);
    }

    // Byte shuffles that put word g of a 128-bit lane in every word of it: scale g of a Q4_K block.
    static readonly Vector256<byte> K4Pick0 = WordBroadcast(0), K4Pick1 = WordBroadcast(1), K4Pick2 = WordBroadcast(2), K4Pick3 = WordBroadcast(3);
    static readonly Vector256<byte> K4Pick4 = WordBroadcast(4), K4Pick5 = WordBroadcast(5), K4Pick6 = WordBroadcast(6), K4Pick7 = WordBroadcast(7);

    static Vector256<byte> WordBroadcast(int word)
    {
        var pick = new byte[32];
        for (int i = 0; i < 32; i += 2) (pick[i], pick[i + 1]) = ((byte)(2 * word), (byte)(2 * word + 1));
        return Vector256.Create(pick);
    }
}

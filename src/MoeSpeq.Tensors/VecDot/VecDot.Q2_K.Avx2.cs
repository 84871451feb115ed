using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Per 128-element half, the 32 Qs bytes hold four 32-element slices at bit offsets 0, 2, 4, 6; each slice spans
    // two 16-element groups, whose 4-bit scales are broadcast per 128-bit lane (pair sums ≤ 2·3·128).
    static float Q2_KAvx2(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector256<float> acc = default, accMin = default;
        var low2 = Vector256.Create((byte)0x03);
        float* t = Fp16.Table;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 84;
            byte* bx = x + i * 292;
            float dx = *(float*)bx;
            sbyte* a = (sbyte*)(bx + 4);
            var packedScales = Sse2.LoadVector128(bw);
            var mins16 = Avx2.ConvertToVector256Int16(Sse2.ShiftRightLogical(packedScales.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F));
            var minProd = Avx2.MultiplyAddAdjacent(Avx.LoadVector256((short*)(bx + 260)), mins16);
            accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(minProd), Vector256.Create(t[*(ushort*)(bw + 82)] * dx), accMin);

            var scales16 = Avx2.ConvertToVector256Int16(packedScales & Vector128.Create((byte)0x0F)).AsUInt64();
            var sumi = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++, a += 128)
            {
                var q = Avx.LoadVector256(bw + 16 + 32 * h).AsUInt16();
                var sc = (h == 0 ? Avx2.Permute4x64(scales16, 0b01_00_01_00) : Avx2.Permute4x64(scales16, 0b11_10_11_10)).AsByte();
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(q.AsByte() & low2, Avx.LoadVector256(a)), Avx2.Shuffle(sc, ScaleShuffle0).AsInt16());
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent((q >> 2).AsByte() & low2, Avx.LoadVector256(a + 32)), Avx2.Shuffle(sc, ScaleShuffle1).AsInt16());
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent((q >> 4).AsByte() & low2, Avx.LoadVector256(a + 64)), Avx2.Shuffle(sc, ScaleShuffle2).AsInt16());
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent((q >> 6).AsByte() & low2, Avx.LoadVector256(a + 96)), Avx2.Shuffle(sc, ScaleShuffle3).AsInt16());
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(t[*(ushort*)(bw + 80)] * dx), acc);
        }
        return Vector256.Sum(acc) - Vector256.Sum(accMin);
    }
}

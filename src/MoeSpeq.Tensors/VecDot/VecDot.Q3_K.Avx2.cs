using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Levels are dotted unsigned as low2 | high·4 ∈ [0, 8) (pair sums ≤ 2·7·128); the −4 offset is taken out once
    // per block as 4·Σ_g sc_g·bsum_g. Slices and scale broadcasts are laid out as in Q2_K.
    static float Q3_KAvx2(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector256<float> acc = default;
        var low2 = Vector256.Create((byte)0x03);
        var four = Vector256.Create((byte)0x04);
        float* t = Fp16.Table;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 110;
            byte* bx = x + i * 292;
            sbyte* a = (sbyte*)(bx + 4);
            var scales16 = Avx2.ConvertToVector256Int16(UnpackQ3KScales(bw + 96));
            var offset = Avx2.MultiplyAddAdjacent(Avx.LoadVector256((short*)(bx + 260)), scales16);
            var sumi = Vector256<int>.Zero - (offset << 2);
            var hmask = Avx.LoadVector256(bw);
            for (int h = 0; h < 2; h++, a += 128)
            {
                var q = Avx.LoadVector256(bw + 32 + 32 * h).AsUInt16();
                var sc = (h == 0 ? Avx2.Permute4x64(scales16.AsUInt64(), 0b01_00_01_00) : Avx2.Permute4x64(scales16.AsUInt64(), 0b11_10_11_10)).AsByte();
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent((q.AsByte() & low2) | HighBit(hmask, 4 * h, four), Avx.LoadVector256(a)), Avx2.Shuffle(sc, ScaleShuffle0).AsInt16());
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(((q >> 2).AsByte() & low2) | HighBit(hmask, 4 * h + 1, four), Avx.LoadVector256(a + 32)), Avx2.Shuffle(sc, ScaleShuffle1).AsInt16());
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(((q >> 4).AsByte() & low2) | HighBit(hmask, 4 * h + 2, four), Avx.LoadVector256(a + 64)), Avx2.Shuffle(sc, ScaleShuffle2).AsInt16());
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(((q >> 6).AsByte() & low2) | HighBit(hmask, 4 * h + 3, four), Avx.LoadVector256(a + 96)), Avx2.Shuffle(sc, ScaleShuffle3).AsInt16());
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(t[*(ushort*)(bw + 108)] * *(float*)bx), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>4 in each byte whose bit <paramref name="bit"/> of the HMask byte is set (the third level bit of Q3_K).</summary>
    static Vector256<byte> HighBit(Vector256<byte> hmask, int bit, Vector256<byte> four)
    {
        var select = Vector256.Create((byte)(1 << bit));
        return Vector256.Equals(hmask & select, select) & four;
    }

    /// <summary>The 16 signed scales of a Q3_K block: 4 low bits from bytes 0..7, 2 high bits from bytes 8..11, minus 32.</summary>
    static Vector128<sbyte> UnpackQ3KScales(byte* packed)
    {
        uint w0 = *(uint*)packed, w1 = *(uint*)(packed + 4), w2 = *(uint*)(packed + 8);
        var v = Vector128.Create(
            (w0 & 0x0f0f0f0f) | ((w2 & 0x03030303) << 4),
            (w1 & 0x0f0f0f0f) | (((w2 >> 2) & 0x03030303) << 4),
            ((w0 >> 4) & 0x0f0f0f0f) | (((w2 >> 4) & 0x03030303) << 4),
            ((w1 >> 4) & 0x0f0f0f0f) | (((w2 >> 6) & 0x03030303) << 4));
        return (v.AsByte() - Vector128.Create((byte)32)).AsSByte();
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // As Q4_K, with the fifth bit of group g taken from bit g of the 32 Qh bytes (pair sums ≤ 2·31·128 < 2¹⁵).
    static float Q5_KAvx2(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector256<float> acc = default, accMin = default;
        var mask = Vector256.Create((byte)0x0F);
        var sixteen = Vector256.Create((byte)0x10);
        float* t = Fp16.Table;
        for (int i = 0; i < blocks; i++)
        {
            byte* bw = w + i * 176;
            PrefetchWeights(bw);
            PrefetchWeights(bw + 64);
            PrefetchWeights(bw + 128);
            byte* bx = x + i * 292;
            float dx = *(float*)bx;
            sbyte* a = (sbyte*)(bx + 4);
            var scalesMins = UnpackScalesMinsK4(bw + 4);
            accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinsTimesBSums(scalesMins, (short*)(bx + 260))), Vector256.Create(t[*(ushort*)(bw + 2)] * dx), accMin);

            ulong scales = scalesMins.AsUInt64().ToScalar();
            var qh = Avx.LoadVector256(bw + 16);
            byte* q = bw + 48;
            var sumi = Vector256<int>.Zero;
            for (int p = 0; p < 4; p++, q += 32, a += 64, scales >>= 16)
            {
                var packed = Avx.LoadVector256(q);
                var bitLo = Vector256.Create((byte)(1 << (2 * p)));
                var bitHi = Vector256.Create((byte)(2 << (2 * p)));
                var lo = (packed & mask) | (Vector256.Equals(qh & bitLo, bitLo) & sixteen);
                var hi = (Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask) | (Vector256.Equals(qh & bitHi, bitHi) & sixteen);
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(lo, Avx.LoadVector256(a)), Vector256.Create((short)(scales & 0xFF)));
                sumi = MaddAcc(sumi, Avx2.MultiplyAddAdjacent(hi, Avx.LoadVector256(a + 32)), Vector256.Create((short)((scales >> 8) & 0xFF)));
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(t[*(ushort*)bw] * dx), acc);
        }
        return Vector256.Sum(acc) - Vector256.Sum(accMin);
    }
}

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
            byte* bx = x + i * 292;
            float dx = *(float*)bx;
            sbyte* a = (sbyte*)(bx + 4);
            var scalesMins = UnpackScalesMinsK4(bw + 4);
            accMin = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinsTimesBSums(scalesMins, (short*)(bx + 260))), Vector256.Create(t[*(ushort*)(bw + 2)] * dx), accMin);

            ulong scales = scalesMins.AsUInt64().ToScalar();
            byte* q = bw + 16;
            var sumi = Vector256<int>.Zero;
            for (int p = 0; p < 4; p++, q += 32, a += 64, scales >>= 16)
            {
                var packed = Avx.LoadVector256(q);
                var lo = packed & mask;
                var hi = Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
                var p0 = Avx2.MultiplyAddAdjacent(lo, Avx.LoadVector256(a));
                var p1 = Avx2.MultiplyAddAdjacent(hi, Avx.LoadVector256(a + 32));
                sumi = MaddAcc(sumi, p0, Vector256.Create((short)(scales & 0xFF)));
                sumi = MaddAcc(sumi, p1, Vector256.Create((short)((scales >> 8) & 0xFF)));
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(t[*(ushort*)bw] * dx), acc);
        }
        return Vector256.Sum(acc) - Vector256.Sum(accMin);
    }
}

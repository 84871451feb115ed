using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Each 512-bit step takes 32 packed bytes into both halves, shifts the upper half by 4 so it holds the high
    // nibbles, and so covers two 32-element groups against 64 contiguous activation bytes.
    static float Q4_KAvx512(byte* w, byte* x, int n)
    {
        int blocks = n / 256;
        Vector512<float> acc = default;
        Vector256<float> accMin = default;
        var mask = Vector512.Create((byte)0x0F);
        var shifts = NibbleShifts;
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
            var sumi = Vector512<int>.Zero;
            for (int p = 0; p < 4; p++, q += 32, a += 64, scales >>= 16)
            {
                var packed = Vector512.Create(Avx.LoadVector256(q));
                var levels = Avx512BW.ShiftRightLogicalVariable(packed.AsUInt16(), shifts).AsByte() & mask;
                var prod = Avx512BW.MultiplyAddAdjacent(levels, Avx512F.LoadVector512(a));
                var sc = Vector512.Create(Vector256.Create((short)(scales & 0xFF)), Vector256.Create((short)((scales >> 8) & 0xFF)));
                sumi += Avx512BW.MultiplyAddAdjacent(prod, sc);
            }
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(t[*(ushort*)bw] * dx), acc);
        }
        return Vector512.Sum(acc) - Vector256.Sum(accMin);
    }

    /// <summary>Per-word right shifts 0 for the low 256 bits and 4 for the high: one load yields low and high nibbles.</summary>
    static readonly Vector512<ushort> NibbleShifts = Vector512.Create(Vector256<ushort>.Zero, Vector256.Create((ushort)4));
}

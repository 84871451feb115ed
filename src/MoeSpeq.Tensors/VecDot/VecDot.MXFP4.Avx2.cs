using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // One 17-byte block per 256-bit step: the nibbles index a 16-byte table of the doubled E2M1 levels (a byte
    // shuffle), whose s8 values in [−12, 12] keep the s8·s8 pair sums ≤ 2·12·127 < 2¹⁵.
    static float MXFP4Avx2(byte* w, byte* x, int n)
    {
        int blocks = n / 32;
        var levels = MXFP4LevelTable();
        Vector256<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 2 <= blocks; i += 2)
        {
            acc0 = MXFP4BlockAvx2(w + i * 17, x + i * 34, levels, acc0);
            acc1 = MXFP4BlockAvx2(w + i * 17 + 17, x + i * 34 + 34, levels, acc1);
        }
        if (i < blocks) acc0 = MXFP4BlockAvx2(w + i * 17, x + i * 34, levels, acc0);
        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<sbyte> MXFP4LevelTable() => Vector128.Create(BlockMXFP4.Levels);

    /// <summary>The 32 signed levels of an MXFP4 block in element order (low nibbles 0..15, then high nibbles 16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<sbyte> MXFP4Levels(byte* qs, Vector128<sbyte> table)
    {
        var packed = Sse2.LoadVector128(qs);
        var mask = Vector128.Create((byte)0x0F);
        var lo = Ssse3.Shuffle(table, (packed & mask).AsSByte());
        var hi = Ssse3.Shuffle(table, (Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask).AsSByte());
        return Vector256.Create(lo, hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> MXFP4BlockAvx2(byte* bw, byte* bx, Vector128<sbyte> table, Vector256<float> acc)
    {
        var dot = DotI8I8(MXFP4Levels(bw + 1, table), Avx.LoadVector256((sbyte*)(bx + 2)));
        float d = Fp16.Table[*(ushort*)bx] * BlockMXFP4.HalfScales[*bw];
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(d), acc);
    }
}

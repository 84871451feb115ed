using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    // Two blocks per 512-bit step (one per 256-bit half), each half scaled by its own block's scales. The levels are
    // looked up per block as on AVX2; the gain is the 512-bit integer dot and half as many accumulations.
    static float MXFP4Avx512(byte* w, byte* x, int n)
    {
        int blocks = n / 32;
        var table = MXFP4LevelTable();
        Vector512<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 4 <= blocks; i += 4)
        {
            acc0 = MXFP4PairAvx512(w + i * 17, x + i * 34, table, acc0);
            acc1 = MXFP4PairAvx512(w + i * 17 + 34, x + i * 34 + 68, table, acc1);
        }
        for (; i + 2 <= blocks; i += 2) acc0 = MXFP4PairAvx512(w + i * 17, x + i * 34, table, acc0);
        float sum = Vector512.Sum(acc0 + acc1);
        if (i < blocks) sum += Vector256.Sum(MXFP4BlockAvx2(w + i * 17, x + i * 34, table, default));
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> MXFP4PairAvx512(byte* bw, byte* bx, Vector128<sbyte> table, Vector512<float> acc)
    {
        var levels = Vector512.Create(MXFP4Levels(bw + 1, table), MXFP4Levels(bw + 18, table));
        var qx = LoadBlockPair(bx);
        float* t = Fp16.Table;
        var scales = BlockMXFP4.HalfScales;
        var d = Vector512.Create(Vector256.Create(t[*(ushort*)bx] * scales[*bw]), Vector256.Create(t[*(ushort*)(bx + 34)] * scales[bw[17]]));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(DotI8I8(levels, qx)), d, acc);
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    static float F32Avx512(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i), Avx512F.LoadVector512(b + i), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i + 16), Avx512F.LoadVector512(b + i + 16), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i + 32), Avx512F.LoadVector512(b + i + 32), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i + 48), Avx512F.LoadVector512(b + i + 48), acc3);
        }
        for (; i + 16 <= n; i += 16) acc0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i), Avx512F.LoadVector512(b + i), acc0);
        float sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    static float F16Avx512(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector512<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Avx512F.FusedMultiplyAdd(HalfToSingle(Avx.LoadVector256(a + i)), HalfToSingle(Avx.LoadVector256(b + i)), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(HalfToSingle(Avx.LoadVector256(a + i + 16)), HalfToSingle(Avx.LoadVector256(b + i + 16)), acc1);
        }
        for (; i + 16 <= n; i += 16) acc0 = Avx512F.FusedMultiplyAdd(HalfToSingle(Avx.LoadVector256(a + i)), HalfToSingle(Avx.LoadVector256(b + i)), acc0);
        float sum = Vector512.Sum(acc0 + acc1);
        for (; i < n; i++) sum += Fp16.Table[a[i]] * Fp16.Table[b[i]];
        return sum;
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    static float F32Avx2(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), acc0);
            acc1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), Avx.LoadVector256(b + i + 8), acc1);
            acc2 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 16), Avx.LoadVector256(b + i + 16), acc2);
            acc3 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 24), Avx.LoadVector256(b + i + 24), acc3);
        }
        for (; i + 8 <= n; i += 8) acc0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), acc0);
        float sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    static float F16Avx2(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector256<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(a + i)), HalfToSingle(Sse2.LoadVector128(b + i)), acc0);
            acc1 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(a + i + 8)), HalfToSingle(Sse2.LoadVector128(b + i + 8)), acc1);
        }
        for (; i + 8 <= n; i += 8) acc0 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(a + i)), HalfToSingle(Sse2.LoadVector128(b + i)), acc0);
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += Fp16.Table[a[i]] * Fp16.Table[b[i]];
        return sum;
    }
}

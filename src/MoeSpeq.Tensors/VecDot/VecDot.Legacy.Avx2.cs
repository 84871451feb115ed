using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

// AVX2 kernels for the 32-element formats with offsets or a fifth bit (Q4_1, Q5_0, Q5_1). The AVX-512 dispatch
// uses these too: these formats are rare in current models and the 256-bit form already streams faster than memory.
public static unsafe partial class VecDot
{
    // Q4_1 · Q8_1: levels unsigned in [0, 16); the minimum contributes m·S with S stored in the activation block.
    static float Q4_1Avx2(byte* w, byte* x, int n)
    {
        Vector256<float> acc = default;
        float sumMin = 0;
        float* t = Fp16.Table;
        for (int i = 0; i < n / 32; i++)
        {
            byte* bw = w + i * 20, bx = x + i * 36;
            var dot = DotU8I8(Vector256<int>.Zero, Nibbles32(bw + 4), Avx.LoadVector256((sbyte*)(bx + 4)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(t[*(ushort*)bw] * t[*(ushort*)bx]), acc);
            sumMin += t[*(ushort*)(bw + 2)] * t[*(ushort*)(bx + 2)];
        }
        return Vector256.Sum(acc) + sumMin;
    }

    // Q5_0 · Q8_0: level = nibble | fifth bit, shifted to [−16, 16).
    static float Q5_0Avx2(byte* w, byte* x, int n)
    {
        Vector256<float> acc = default;
        float* t = Fp16.Table;
        for (int i = 0; i < n / 32; i++)
        {
            byte* bw = w + i * 22, bx = x + i * 34;
            var levels = Nibbles32(bw + 6) | FifthBits(*(uint*)(bw + 2));
            var dot = DotI8I8((levels - Vector256.Create((byte)16)).AsSByte(), Avx.LoadVector256((sbyte*)(bx + 2)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(t[*(ushort*)bw] * t[*(ushort*)bx]), acc);
        }
        return Vector256.Sum(acc);
    }

    // Q5_1 · Q8_1: levels unsigned in [0, 32) (pair sums ≤ 2·31·128 < 2¹⁵), plus m·S.
    static float Q5_1Avx2(byte* w, byte* x, int n)
    {
        Vector256<float> acc = default;
        float sumMin = 0;
        float* t = Fp16.Table;
        for (int i = 0; i < n / 32; i++)
        {
            byte* bw = w + i * 24, bx = x + i * 36;
            var levels = Nibbles32(bw + 8) | FifthBits(*(uint*)(bw + 4));
            var dot = DotU8I8(Vector256<int>.Zero, levels, Avx.LoadVector256((sbyte*)(bx + 4)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(t[*(ushort*)bw] * t[*(ushort*)bx]), acc);
            sumMin += t[*(ushort*)(bw + 2)] * t[*(ushort*)(bx + 2)];
        }
        return Vector256.Sum(acc) + sumMin;
    }

    static float BF16Avx2(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector256<float> acc0 = default, acc1 = default;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Fma.MultiplyAdd(BF16ToSingle(a + i), BF16ToSingle(b + i), acc0);
            acc1 = Fma.MultiplyAdd(BF16ToSingle(a + i + 8), BF16ToSingle(b + i + 8), acc1);
        }
        for (; i + 8 <= n; i += 8) acc0 = Fma.MultiplyAdd(BF16ToSingle(a + i), BF16ToSingle(b + i), acc0);
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += Fp16.BF16ToSingle(a[i]) * Fp16.BF16ToSingle(b[i]);
        return sum;
    }

    static Vector256<float> BF16ToSingle(ushort* p) => (Avx2.ConvertToVector256Int32(Sse2.LoadVector128(p)) << 16).AsSingle();
}

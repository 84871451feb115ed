using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

public static unsafe partial class VecDot
{
    /// <summary>
    /// Converts an activation row to <paramref name="vecDotType"/> (a value of <see cref="TypeFor"/>) the way llama.cpp's
    /// x86 CPU backend does before a mat-mul: Q8_0/Q8_1 with its AVX rounding (multiplier 127/amax, ties to even),
    /// Q8_K with ggml's reference, F16 round-to-nearest-even, BF16 ggml's rounding, F32 unchanged.
    /// </summary>
    public static void QuantizeActivation(GgmlType vecDotType, ReadOnlySpan<float> x, Span<byte> dst) =>
        QuantizeActivationOn(Isa, vecDotType, x, dst);

    /// <summary>As <see cref="QuantizeActivation(GgmlType, ReadOnlySpan{float}, Span{byte})"/> on the code path for <paramref name="isa"/>.</summary>
    internal static void QuantizeActivationOn(VecDotIsa isa, GgmlType vecDotType, ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (isa > Isa) throw new PlatformNotSupportedException($"{isa} code cannot run on this machine ({Isa})");
        int n = x.Length;
        int bytes = GgmlTypeInfo.RowBytes(vecDotType, n);
        if (dst.Length < bytes) throw new ArgumentException($"{n} {vecDotType} values need {bytes} bytes, got {dst.Length}", nameof(dst));
        fixed (float* s = x)
        fixed (byte* d = dst)
            QuantizeActivation(vecDotType, s, d, n, isa);
    }

    internal static void QuantizeActivation(GgmlType vecDotType, float* x, byte* dst, int n) =>
        QuantizeActivation(vecDotType, x, dst, n, Isa);

    internal static void QuantizeActivation(GgmlType vecDotType, float* x, byte* dst, int n, VecDotIsa isa)
    {
        if (isa >= VecDotIsa.Avx2)
        {
            switch (vecDotType)
            {
                case GgmlType.Q8_0: QuantizeQ8_0Avx2(x, dst, n / 32, withSum: false); return;
                case GgmlType.Q8_1: QuantizeQ8_0Avx2(x, dst, n / 32, withSum: true); return;
                case GgmlType.Q8_K: QuantizeQ8_KAvx2(x, dst, n / 256); return;
            }
        }
        switch (vecDotType)
        {
            case GgmlType.F32: Buffer.MemoryCopy(x, dst, (long)n * 4, (long)n * 4); break;
            case GgmlType.F16:
                for (int i = 0; i < n; i++) ((ushort*)dst)[i] = Fp16.FromSingle(x[i]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < n; i++) ((ushort*)dst)[i] = Fp16.SingleToBF16(x[i]);
                break;
            case GgmlType.Q8_0: BlockQ8_0.QuantizeActivation(x, (BlockQ8_0*)dst, n / 32); break;
            case GgmlType.Q8_1: BlockQ8_1.QuantizeActivation(x, (BlockQ8_1*)dst, n / 32); break;
            case GgmlType.Q8_K: BlockQ8_K.Quantize(x, (BlockQ8_K*)dst, n / 256); break;
            default: throw new NotSupportedException($"{vecDotType} is not a vec-dot type");
        }
    }
}

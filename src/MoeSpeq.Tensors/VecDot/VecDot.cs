using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

/// <summary>Instruction sets that <see cref="VecDot"/> has kernels for, lowest first.</summary>
public enum VecDotIsa
{
    Scalar = 0,
    Avx2 = 1,
    Avx512 = 2,
}

/// <summary>
/// Dot products of one weight row with one activation row, computed the way llama.cpp's CPU backend computes
/// mat-muls: the activation row is first converted to the weight type's vec-dot type
/// (<see cref="TypeFor"/>, <see cref="QuantizeActivation"/>), then each block contributes an integer dot times
/// float scales. Every kernel has a scalar reference (<see cref="RowReference"/>) that the SIMD paths are tested
/// against; the SIMD result equals it up to float summation order.
/// </summary>
public static unsafe partial class VecDot
{
    /// <summary>The instruction set the kernels run on in this process; the one place that reads IsSupported.</summary>
    public static VecDotIsa Isa { get; } =
        Avx512BW.IsSupported && Avx512F.VL.IsSupported && Fma.IsSupported ? VecDotIsa.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? VecDotIsa.Avx2
        : VecDotIsa.Scalar;

    /// <summary>The format an activation row takes before it is dotted with a row of <paramref name="weight"/>.</summary>
    public static GgmlType TypeFor(GgmlType weight) => weight switch
    {
        GgmlType.F32 => GgmlType.F32,
        GgmlType.F16 => GgmlType.F16,
        GgmlType.BF16 => GgmlType.BF16,
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 or GgmlType.MXFP4 => GgmlType.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => GgmlType.Q8_1,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => GgmlType.Q8_K,
        _ => throw new NotSupportedException($"no dot product for {weight} weights"),
    };

    /// <summary>True when there is a dot product for weights of <paramref name="weight"/>.</summary>
    public static bool Supports(GgmlType weight) => weight is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.MXFP4;

    /// <summary>Σ_i w[i]·x[i] over <paramref name="n"/> elements, x already in <see cref="TypeFor"/>(weight), on the fastest kernel.</summary>
    public static float Row(GgmlType weight, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n) =>
        Invoke(Kernel(weight, Isa), weight, weightRow, activationRow, n);

    /// <summary>As <see cref="Row"/> on the scalar reference kernel.</summary>
    public static float RowReference(GgmlType weight, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n) =>
        Invoke(Kernel(weight, VecDotIsa.Scalar), weight, weightRow, activationRow, n);

    /// <summary>As <see cref="Row"/> on the kernel for <paramref name="isa"/>, which must not exceed <see cref="Isa"/>.</summary>
    internal static float RowOn(VecDotIsa isa, GgmlType weight, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
    {
        if (isa > Isa) throw new PlatformNotSupportedException($"{isa} kernels cannot run on this machine ({Isa})");
        return Invoke(Kernel(weight, isa), weight, weightRow, activationRow, n);
    }

    static float Invoke(delegate*<byte*, byte*, int, float> kernel, GgmlType weight, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
    {
        if (weightRow.Length < GgmlTypeInfo.RowBytes(weight, n)) throw new ArgumentException($"weight row holds {weightRow.Length} bytes, {n} {weight} values need more", nameof(weightRow));
        var xType = TypeFor(weight);
        if (activationRow.Length < GgmlTypeInfo.RowBytes(xType, n)) throw new ArgumentException($"activation row holds {activationRow.Length} bytes, {n} {xType} values need more", nameof(activationRow));
        fixed (byte* w = weightRow)
        fixed (byte* x = activationRow)
            return kernel(w, x, n);
    }

    /// <summary>
    /// The kernel for weights of <paramref name="weight"/> on <paramref name="isa"/>. Types without a kernel for that
    /// ISA fall back to the next lower one, so every (type, ISA) pair yields a kernel.
    /// </summary>
    internal static delegate*<byte*, byte*, int, float> Kernel(GgmlType weight, VecDotIsa isa)
    {
        if (isa >= VecDotIsa.Avx512)
        {
            delegate*<byte*, byte*, int, float> k = weight switch
            {
                GgmlType.F32 => &F32Avx512,
                GgmlType.F16 => &F16Avx512,
                GgmlType.Q8_0 => &Q8_0Avx512,
                GgmlType.Q4_0 => &Q4_0Avx512,
                GgmlType.Q4_K => &Q4_KAvx512,
                GgmlType.Q6_K => &Q6_KAvx512,
                GgmlType.MXFP4 => &MXFP4Avx512,
                                                                                                                _ => null,
            };
            if (k != null) return k;
        }
        if (isa >= VecDotIsa.Avx2)
        {
            delegate*<byte*, byte*, int, float> k = weight switch
            {
                GgmlType.F32 => &F32Avx2,
                GgmlType.F16 => &F16Avx2,
                GgmlType.Q8_0 => &Q8_0Avx2,
                GgmlType.Q4_0 => &Q4_0Avx2,
                GgmlType.Q4_K => &Q4_KAvx2,
                GgmlType.Q6_K => &Q6_KAvx2,
                GgmlType.BF16 => &BF16Avx2,
                GgmlType.Q4_1 => &Q4_1Avx2,
                GgmlType.Q5_0 => &Q5_0Avx2,
                GgmlType.Q5_1 => &Q5_1Avx2,
                GgmlType.Q2_K => &Q2_KAvx2,
                GgmlType.Q3_K => &Q3_KAvx2,
                GgmlType.Q5_K => &Q5_KAvx2,
                GgmlType.MXFP4 => &MXFP4Avx2,
                                                                                                                _ => null,
            };
            if (k != null) return k;
        }
        return weight switch
        {
            GgmlType.F32 => &F32Scalar,
            GgmlType.F16 => &F16Scalar,
            GgmlType.BF16 => &BF16Scalar,
            GgmlType.Q4_0 => &Q4_0Scalar,
            GgmlType.Q4_1 => &Q4_1Scalar,
            GgmlType.Q5_0 => &Q5_0Scalar,
            GgmlType.Q5_1 => &Q5_1Scalar,
            GgmlType.Q8_0 => &Q8_0Scalar,
            GgmlType.Q2_K => &Q2_KScalar,
            GgmlType.Q3_K => &Q3_KScalar,
            GgmlType.Q4_K => &Q4_KScalar,
            GgmlType.Q5_K => &Q5_KScalar,
            GgmlType.Q6_K => &Q6_KScalar,
            GgmlType.MXFP4 => &MXFP4Scalar,
            _ => throw new NotSupportedException($"no dot product for {weight} weights"),
        };
    }
}

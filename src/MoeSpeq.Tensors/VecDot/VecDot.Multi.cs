namespace MoeSpeq.Tensors;

// Several activation rows against one weight row: for batches (prefill, grouped experts, speculative verification)
// a kernel that unpacks each weight block once and applies it to up to MultiRows activation rows saves the unpacking
// and the weight loads of all but the first row.
public static unsafe partial class VecDot
{
    /// <summary>Activation rows a multi-row kernel call takes at most, unless <see cref="MultiKernelRows"/> says more.</summary>
    internal const int MultiRows = 4;

    /// <summary>The most activation rows that <see cref="MultiKernel"/>'s kernel for (weight, isa) takes per call.</summary>
    internal static int MultiKernelRows(GgmlType weight, VecDotIsa isa) =>
        isa >= VecDotIsa.Avx512 && weight == GgmlType.Q4_K ? Q4_KMultiRowsAvx512 : MultiRows;

    /// <summary>
    /// y[k·yStride] = dot(w, x + k·xStride) for k in [0, count), count ≤ <see cref="MultiKernelRows"/>; a null
    /// pointer when (type, isa) has no multi-row kernel and callers should loop over <see cref="Kernel"/>.
    /// </summary>
    internal static delegate*<byte*, byte*, nint, int, float*, nint, int, void> MultiKernel(GgmlType weight, VecDotIsa isa)
    {
        if (isa >= VecDotIsa.Avx512)
        {
            return weight switch
            {
                GgmlType.Q8_0 => &Q8_0MultiAvx512,
                GgmlType.Q4_K => &Q4_KMultiAvx512,
                GgmlType.Q6_K => &Q6_KMultiAvx512,
                _ => null,
            };
        }
        if (isa == VecDotIsa.Avx2)
        {
            return weight switch
            {
                GgmlType.Q8_0 => &Q8_0MultiAvx2,
                GgmlType.Q4_K => &Q4_KMultiAvx2,
                GgmlType.Q6_K => &Q6_KMultiAvx2,
                _ => null,
            };
        }
        return null;
    }
}

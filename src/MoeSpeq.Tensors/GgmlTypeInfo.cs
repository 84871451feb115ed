namespace MoeSpeq.Tensors;

/// <summary>Block geometry of every <see cref="GgmlType"/>, and checked size arithmetic over it.</summary>
public static class GgmlTypeInfo
{
    /// <summary>Elements per block and bytes per block; (0, 0) for an id that names no type.</summary>
    public static (int BlockSize, int BlockBytes) Geometry(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 => (1, 2),
        GgmlType.BF16 => (1, 2),
        GgmlType.F64 => (1, 8),
        GgmlType.I8 => (1, 1),
        GgmlType.I16 => (1, 2),
        GgmlType.I32 => (1, 4),
        GgmlType.I64 => (1, 8),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q8_1 => (32, 36),
        GgmlType.IQ4_NL => (32, 18),
        GgmlType.MXFP4 => (32, 17),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        GgmlType.Q8_K => (256, 292),
        GgmlType.IQ2_XXS => (256, 66),
        GgmlType.IQ2_XS => (256, 74),
        GgmlType.IQ3_XXS => (256, 98),
        GgmlType.IQ1_S => (256, 50),
        GgmlType.IQ3_S => (256, 110),
        GgmlType.IQ2_S => (256, 82),
        GgmlType.IQ4_XS => (256, 136),
        GgmlType.IQ1_M => (256, 56),
        GgmlType.TQ1_0 => (256, 54),
        GgmlType.TQ2_0 => (256, 66),
        _ => (0, 0),
    };

    /// <summary>True when <paramref name="type"/> names a type that GGUF files may carry.</summary>
    public static bool IsKnown(GgmlType type) => Geometry(type).BlockSize != 0;

    public static int BlockSize(GgmlType type) => Geometry(type).BlockSize;

    public static int BlockBytes(GgmlType type) => Geometry(type).BlockBytes;

    /// <summary>
    /// Bytes of a row of <paramref name="elements"/> values; null when the row is not a whole number of
    /// blocks or the size overflows. Callers turn null into an error that names the tensor.
    /// </summary>
    public static long? TryRowBytes(GgmlType type, long elements)
    {
        var (blockSize, blockBytes) = Geometry(type);
        if (blockSize == 0 || elements < 0 || elements % blockSize != 0) return null;
        try { return checked(elements / blockSize * blockBytes); }
        catch (OverflowException) { return null; }
    }

    /// <summary>Bytes of a row of <paramref name="elements"/> values; throws when it is not a whole number of blocks.</summary>
    public static int RowBytes(GgmlType type, int elements) =>
        TryRowBytes(type, elements) is long bytes && bytes <= int.MaxValue
            ? (int)bytes
            : throw new ArgumentException($"{elements} elements are not a whole number of {type} blocks");
}

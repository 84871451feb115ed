using System.Runtime.CompilerServices;

namespace MoeSpeq.Tensors;

/// <summary>
/// Scalar conversions between F32 and the 16-bit float formats stored in GGUF files, rounded the way ggml rounds
/// them so that quantized files and activations match llama.cpp bit for bit.
/// </summary>
public static unsafe class Fp16
{
    /// <summary>
    /// F16 bits → F32 for all 65536 codes (256 KiB, never freed). Kernels read block scales through it: one load
    /// instead of a branchy software conversion, and it never feeds a subnormal into a float multiply.
    /// </summary>
    internal static readonly float* Table = BuildTable();

    static float* BuildTable()
    {
        var table = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int h = 0; h < 65536; h++) table[h] = ToSingle((ushort)h);
        return table;
    }

    /// <summary>IEEE binary16 bits → F32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    /// <summary>
    /// F32 → IEEE binary16 bits, round to nearest even. Every NaN becomes the quiet NaN 0x7E00 with the input's sign,
    /// as ggml's reference converter does (the hardware converter would keep payload bits, which no weight relies on).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float f)
    {
        if (float.IsNaN(f)) return (ushort)((BitConverter.SingleToUInt32Bits(f) >> 16 & 0x8000) | 0x7E00);
        return BitConverter.HalfToUInt16Bits((Half)f);
    }

    /// <summary>bfloat16 bits → F32 (exact: the upper half of an F32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToSingle(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>F32 → bfloat16 bits, round to nearest even; a NaN keeps its upper bits and is forced quiet (ggml's rule).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }
}

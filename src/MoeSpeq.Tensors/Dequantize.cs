using System.Runtime.InteropServices;
using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

/// <summary>Converts rows stored in a ggml type back to F32, bit-exact with ggml's <c>dequantize_row_*</c>.</summary>
public static unsafe class Dequantize
{
    /// <summary>True when <see cref="Row"/> accepts <paramref name="type"/>.</summary>
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K or GgmlType.MXFP4;

    /// <summary>dst[i] = value of element i of <paramref name="src"/>, a row of dst.Length elements of <paramref name="type"/>.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        int bytes = GgmlTypeInfo.RowBytes(type, n);
        if (src.Length < bytes) throw new ArgumentException($"a row of {n} {type} values needs {bytes} bytes, got {src.Length}", nameof(src));
        int blocks = n / GgmlTypeInfo.BlockSize(type);
        fixed (byte* s = src)
        fixed (float* d = dst)
        {
            switch (type)
            {
                case GgmlType.F32: MemoryMarshal.Cast<byte, float>(src)[..n].CopyTo(dst); break;
                case GgmlType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src)[..n], dst); break;
                case GgmlType.BF16:
                    for (int i = 0; i < n; i++) d[i] = Fp16.BF16ToSingle(((ushort*)s)[i]);
                    break;
                case GgmlType.Q4_0: BlockQ4_0.Dequantize((BlockQ4_0*)s, d, blocks); break;
                case GgmlType.Q4_1: BlockQ4_1.Dequantize((BlockQ4_1*)s, d, blocks); break;
                case GgmlType.Q5_0: BlockQ5_0.Dequantize((BlockQ5_0*)s, d, blocks); break;
                case GgmlType.Q5_1: BlockQ5_1.Dequantize((BlockQ5_1*)s, d, blocks); break;
                case GgmlType.Q8_0: BlockQ8_0.Dequantize((BlockQ8_0*)s, d, blocks); break;
                case GgmlType.Q8_1: BlockQ8_1.Dequantize((BlockQ8_1*)s, d, blocks); break;
                case GgmlType.Q2_K: BlockQ2_K.Dequantize((BlockQ2_K*)s, d, blocks); break;
                case GgmlType.Q3_K: BlockQ3_K.Dequantize((BlockQ3_K*)s, d, blocks); break;
                case GgmlType.Q4_K: BlockQ4_K.Dequantize((BlockQ4_K*)s, d, blocks); break;
                case GgmlType.Q5_K: BlockQ5_K.Dequantize((BlockQ5_K*)s, d, blocks); break;
                case GgmlType.Q6_K: BlockQ6_K.Dequantize((BlockQ6_K*)s, d, blocks); break;
                case GgmlType.Q8_K: BlockQ8_K.Dequantize((BlockQ8_K*)s, d, blocks); break;
                case GgmlType.MXFP4: BlockMXFP4.Dequantize((BlockMXFP4*)s, d, blocks); break;
                default: throw new NotSupportedException($"dequantizing {type} is not supported");
            }
        }
    }
}

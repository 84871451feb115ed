using MoeSpeq.Tensors.Quants;

namespace MoeSpeq.Tensors;

/// <summary>
/// Converts F32 rows to a ggml type with ggml's reference quantizers (<c>quantize_row_*_ref</c>), i.e. what
/// llama-quantize writes without an importance matrix. Activations for a dot product go through
/// <see cref="VecDot.QuantizeActivation"/> instead, which follows llama.cpp's CPU backend.
/// </summary>
public static unsafe class Quantize
{
    /// <summary>True when <see cref="Row"/> accepts <paramref name="type"/>.</summary>
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K or GgmlType.MXFP4;

    /// <summary>Writes the src.Length values of <paramref name="src"/> as one row of <paramref name="type"/> into dst.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        int n = src.Length;
        int bytes = GgmlTypeInfo.RowBytes(type, n);
        if (dst.Length < bytes) throw new ArgumentException($"a row of {n} {type} values needs {bytes} bytes, got {dst.Length}", nameof(dst));
        int blocks = n / GgmlTypeInfo.BlockSize(type);
        fixed (float* s = src)
        fixed (byte* d = dst)
        {
            switch (type)
            {
                case GgmlType.F32: new ReadOnlySpan<byte>(s, n * 4).CopyTo(dst); break;
                case GgmlType.F16:
                    for (int i = 0; i < n; i++) ((ushort*)d)[i] = Fp16.FromSingle(s[i]);
                    break;
                case GgmlType.BF16:
                    for (int i = 0; i < n; i++) ((ushort*)d)[i] = Fp16.SingleToBF16(s[i]);
                    break;
                case GgmlType.Q4_0: BlockQ4_0.Quantize(s, (BlockQ4_0*)d, blocks); break;
                case GgmlType.Q4_1: BlockQ4_1.Quantize(s, (BlockQ4_1*)d, blocks); break;
                case GgmlType.Q5_0: BlockQ5_0.Quantize(s, (BlockQ5_0*)d, blocks); break;
                case GgmlType.Q5_1: BlockQ5_1.Quantize(s, (BlockQ5_1*)d, blocks); break;
                case GgmlType.Q8_0: BlockQ8_0.Quantize(s, (BlockQ8_0*)d, blocks); break;
                case GgmlType.Q8_1: BlockQ8_1.Quantize(s, (BlockQ8_1*)d, blocks); break;
                case GgmlType.Q2_K: BlockQ2_K.Quantize(s, (BlockQ2_K*)d, blocks); break;
                case GgmlType.Q3_K: BlockQ3_K.Quantize(s, (BlockQ3_K*)d, blocks); break;
                case GgmlType.Q4_K: BlockQ4_K.Quantize(s, (BlockQ4_K*)d, blocks); break;
                case GgmlType.Q5_K: BlockQ5_K.Quantize(s, (BlockQ5_K*)d, blocks); break;
                case GgmlType.Q6_K: BlockQ6_K.Quantize(s, (BlockQ6_K*)d, blocks); break;
                case GgmlType.Q8_K: BlockQ8_K.Quantize(s, (BlockQ8_K*)d, blocks); break;
                case GgmlType.MXFP4: BlockMXFP4.Quantize(s, (BlockMXFP4*)d, blocks); break;
                default: throw new NotSupportedException($"quantizing to {type} is not supported");
            }
        }
    }
}

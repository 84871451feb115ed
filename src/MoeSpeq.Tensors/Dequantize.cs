using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors;

/// <summary>Converts rows stored in a ggml type back to F32.</summary>
public static class Dequantize
{
    /// <summary>dst[i] = value of element i of <paramref name="src"/>, a row of dst.Length elements of <paramref name="type"/>.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        System.Diagnostics.Debug.Assert(src.Length >= GgmlTypeInfo.RowBytes(type, dst.Length));
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);
                break;
            case GgmlType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src)[..dst.Length], dst);
                break;
            case GgmlType.BF16:
                var bf = MemoryMarshal.Cast<byte, ushort>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(bf[i] << 16);
                break;
            default:
                throw new NotSupportedException($"dequantizing {type} is not supported");
        }
    }
}

using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors;

/// <summary>Converts F32 rows to a ggml storage type.</summary>
public static class Quantize
{
    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case GgmlType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst));
                break;
            default:
                throw new NotSupportedException($"quantizing to {type} is not supported");
        }
    }
}

using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// A tensor as declared in a GGUF header. <see cref="Dimensions"/> are in GGUF order: ne0 (the contiguous,
/// innermost dimension) first. <see cref="DataOffset"/> is relative to the start of the data section.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long DataOffset, long ByteSize)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dimensions) n *= d;
            return n;
        }
    }

    /// <summary>ne[i], or 1 past the declared rank (GGUF tensors are implicitly padded to four dimensions).</summary>
    public long Dim(int i) => i < Dimensions.Length ? Dimensions[i] : 1;

    public string ShapeText => "[" + string.Join(", ", Dimensions) + "]";
}

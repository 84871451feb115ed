using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// A tensor as a safetensors header declares it. <see cref="Shape"/> is row-major (outermost dimension first, as
/// PyTorch writes it: the reverse of GGUF's ne order). <see cref="Begin"/> and <see cref="End"/> are byte offsets
/// relative to the start of the data (after the header); <see cref="HeaderOffset"/> is where the entry starts in
/// the file, for messages.
/// </summary>
public sealed record SafetensorsTensorInfo(string Name, string Dtype, long[] Shape, long Begin, long End, long HeaderOffset)
{
    public long ByteSize => End - Begin;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>The ggml type of the tensor's dtype; a typed error naming the tensor when the kernels cannot compute with it.</summary>
    public GgmlType Type => SafetensorsDtypes.ToGgml(Dtype)
        ?? throw new SafetensorsFormatException($"{Name}: dtype", HeaderOffset,
            $"dtype {Dtype} is not supported (supported: {string.Join(", ", SafetensorsDtypes.ComputableNames)}); convert the checkpoint to one of them");
}

using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// A tensor as declared in a GGUF header. <see cref="Dimensions"/> are in GGUF order: ne0 (the contiguous,
/// innermost dimension) first. <see cref="DataOffset"/> is relative to the start of the data section of the file
/// that holds the bytes: file <see cref="File"/> of the <see cref="GgufFile"/>, which is 0 in a GGUF file and the
/// shard's index in a model directory.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long DataOffset, long ByteSize)
{
    /// <summary>Which of the <see cref="GgufFile"/>'s files holds the bytes (<see cref="GgufFile.Files"/>).</summary>
    public int File { get; init; }

    /// <summary>
    /// When set, the tensor is not stored as it is used: its bytes are this rearrangement of the
    /// <see cref="TensorRearrangement.SourceBytes"/> at <see cref="DataOffset"/>, made when it is loaded
    /// (<see cref="ByteSize"/> is the rearranged size). Such a tensor has no bytes of its own in the file.
    /// </summary>
    public TensorRearrangement? Rearrangement { get; init; }

    /// <summary>Where the tensor came from when it was not read from a GGUF header (a checkpoint's tensor name and shard), for messages.</summary>
    public string? Origin { get; init; }

    /// <summary>Bytes the tensor occupies in its file: <see cref="ByteSize"/>, or the source's size when rearranged.</summary>
    public long StoredBytes => Rearrangement?.SourceBytes ?? ByteSize;

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

    /// <summary>The name, with its origin when it has one: what an error message should quote.</summary>
    public string Describe() => Origin is null ? Name : $"{Name} ({Origin})";
}

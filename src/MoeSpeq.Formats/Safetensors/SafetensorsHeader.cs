namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// A validated safetensors header: the tensors in the order of their bytes (which cover the data section exactly,
/// without holes or overlaps), the free-form <c>__metadata__</c> strings, and where the data starts.
/// </summary>
public sealed class SafetensorsHeader
{
    public required IReadOnlyList<SafetensorsTensorInfo> Tensors { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }
    /// <summary>Bytes of JSON (with its padding) after the 8-byte length.</summary>
    public required long HeaderLength { get; init; }
    /// <summary>Absolute file offset of the data section: 8 + <see cref="HeaderLength"/>.</summary>
    public long DataOffset => 8 + HeaderLength;

    public SafetensorsTensorInfo? FindTensor(string name)
    {
        _byName ??= Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return _byName.GetValueOrDefault(name);
    }

    Dictionary<string, SafetensorsTensorInfo>? _byName;
}

namespace MoeSpeq.Formats.Gguf;

/// <summary>Everything a GGUF file declares before its tensor data: version, metadata, tensor table and layout.</summary>
public sealed class GgufHeader
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const uint DefaultAlignment = 32;

    public required uint Version { get; init; }
    public required IReadOnlyDictionary<string, GgufValue> Metadata { get; init; }
    /// <summary>Metadata keys in file order (dictionaries do not promise an order; tools that rewrite files want it).</summary>
    public required IReadOnlyList<string> MetadataKeys { get; init; }
    public required IReadOnlyList<GgufTensorInfo> Tensors { get; init; }
    public required uint Alignment { get; init; }
    /// <summary>
    /// Absolute file offset of the data section (the tensor offsets' origin); 0 in a header composed over several
    /// files, where each file has its own origin (<see cref="GgufFile.DataOrigin"/>).
    /// </summary>
    public required long DataOffset { get; init; }

    public GgufTensorInfo? FindTensor(string name)
    {
        _byName ??= Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return _byName.GetValueOrDefault(name);
    }

    Dictionary<string, GgufTensorInfo>? _byName;

    public GgufValue? Find(string key) => Metadata.GetValueOrDefault(key);

    public string? GetString(string key) => Find(key)?.Value as string;

    public long? GetInt(string key) => Find(key)?.AsInt64();

    public double? GetDouble(string key) => Find(key)?.AsDouble();

    public bool? GetBool(string key) => Find(key)?.Value is bool b ? b : null;

    public GgufArray? GetArray(string key) => Find(key)?.Value as GgufArray;

    /// <summary>An integer key that must be present; a clear error names it when it is not.</summary>
    public long RequireInt(string key) =>
        GetInt(key) ?? throw new GgufFormatException(key, DataOffset, Find(key) is null ? "required key is missing" : "value is not an integer");
}

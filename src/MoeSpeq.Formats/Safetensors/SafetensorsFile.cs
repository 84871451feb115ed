namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// An open safetensors file: its validated header, and its data mapped read-only. Tensor bytes are never copied into
/// managed memory; pointers stay valid until the mapping is disposed.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    SafetensorsFile(MappedFile mapping, SafetensorsHeader header)
    {
        Mapping = mapping;
        Header = header;
    }

    public string Path => Mapping.Path;
    public SafetensorsHeader Header { get; }

    /// <summary>The mapping; a model directory hands it on to the <see cref="Gguf.GgufFile"/> it composes.</summary>
    public MappedFile Mapping { get; }

    /// <summary>
    /// Opens and validates <paramref name="path"/>; throws <see cref="FileNotFoundException"/> when it does not exist
    /// and <see cref="SafetensorsFormatException"/> (naming the file) for a bad one.
    /// </summary>
    public static SafetensorsFile Open(string path)
    {
        var mapping = MappedFile.Open(path, length =>
        {
            if (length < 8) throw new SafetensorsFormatException("header length", 0, $"file holds {length} bytes, fewer than the 8 of the header length (truncated?)", path);
        });
        try
        {
            return new SafetensorsFile(mapping, SafetensorsReader.Parse(mapping.BasePointer, mapping.Length));
        }
        catch (SafetensorsFormatException e) when (e.FilePath is null)
        {
            mapping.Dispose();
            throw e.InFile(path);
        }
        catch
        {
            mapping.Dispose();
            throw;
        }
    }

    /// <summary>Address of a tensor's first byte in the mapping.</summary>
    public byte* TensorPointer(SafetensorsTensorInfo tensor)
    {
        if (tensor.Begin < 0 || tensor.End < tensor.Begin || tensor.End > Mapping.Length - Header.DataOffset)
            throw new ArgumentException($"{tensor.Name} [{tensor.Begin}, {tensor.End}] does not lie inside {Path}", nameof(tensor));
        return Mapping.BasePointer + Header.DataOffset + tensor.Begin;
    }

    /// <summary>The tensor's bytes (below 2 GiB).</summary>
    public ReadOnlySpan<byte> TensorBytes(SafetensorsTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue) throw new InvalidOperationException($"{tensor.Name} is {tensor.ByteSize} bytes; view it through TensorPointer");
        return new ReadOnlySpan<byte>(TensorPointer(tensor), (int)tensor.ByteSize);
    }

    public void Dispose() => Mapping.Dispose();
}

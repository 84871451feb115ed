using System.Buffers.Binary;
using System.Text.Json;

namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// Writes safetensors files: tensors are declared first (name, dtype, row-major shape) and their bytes streamed by a
/// callback per tensor when the file is written, in declaration order, so a large shard never sits in memory whole.
/// The JSON header is padded with spaces to a multiple of 8 bytes, so the data starts aligned.
/// </summary>
public sealed class SafetensorsWriter
{
    readonly List<(string Key, string Value)> _metadata = [];
    readonly List<Pending> _tensors = [];
    readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Writes exactly the tensor's byte size to the stream.</summary>
    public delegate void TensorDataWriter(Stream destination);

    sealed record Pending(string Name, string Dtype, long[] Shape, long ByteSize, TensorDataWriter WriteData);

    /// <summary>Bytes of tensor data declared so far.</summary>
    public long DataBytes { get; private set; }

    public int TensorCount => _tensors.Count;

    /// <summary>Sets (or replaces) one <c>__metadata__</c> string.</summary>
    public SafetensorsWriter SetMetadata(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        int existing = _metadata.FindIndex(kv => kv.Key == key);
        if (existing >= 0) _metadata[existing] = (key, value);
        else _metadata.Add((key, value));
        return this;
    }

    /// <summary>Declares a tensor of <paramref name="shape"/> (outermost dimension first) whose bytes <paramref name="writeData"/> will produce.</summary>
    public SafetensorsWriter AddTensor(string name, string dtype, long[] shape, TensorDataWriter writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == "__metadata__" || !_names.Add(name)) throw new ArgumentException($"duplicate or reserved tensor name {name}");
        int size = SafetensorsDtypes.ElementSize(dtype) ?? throw new ArgumentException($"{name}: unknown dtype {dtype}");
        if (shape.Length > SafetensorsReader.MaxRank || shape.Any(d => d < 0)) throw new ArgumentException($"{name}: bad shape [{string.Join(", ", shape)}]");
        long bytes = shape.Aggregate((long)size, (p, d) => checked(p * d));
        _tensors.Add(new Pending(name, dtype, [.. shape], bytes, writeData));
        DataBytes += bytes;
        return this;
    }

    public SafetensorsWriter AddTensor(string name, string dtype, long[] shape, ReadOnlyMemory<byte> data) =>
        AddTensor(name, dtype, shape, s => s.Write(data.Span));

    public void WriteTo(string path) => AtomicFile.Write(path, WriteTo);

    public void WriteTo(Stream stream)
    {
        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (_metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (key, value) in _metadata) w.WriteString(key, value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.Dtype);
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.ByteSize);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.ByteSize;
            }
            w.WriteEndObject();
        }
        while (json.Length % 8 != 0) json.WriteByte((byte)' ');
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        stream.Write(length);
        json.Position = 0;
        json.CopyTo(stream);
        foreach (var t in _tensors)
        {
            var counting = new CountingStream(stream);
            t.WriteData(counting);
            if (counting.Count != t.ByteSize)
                throw new InvalidOperationException($"{t.Name}: wrote {counting.Count} bytes, declared {t.ByteSize}");
        }
        stream.Flush();
    }
}

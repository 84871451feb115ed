using System.Buffers.Binary;
using System.Text;
using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// Writes GGUF v3 files. Metadata and tensor declarations are collected first; tensor data is streamed by a
/// callback per tensor when the file is written, so multi-gigabyte models never sit in memory whole.
/// </summary>
public sealed class GgufWriter
{
    readonly List<(string Key, GgufValue Value)> _metadata = [];
    readonly List<PendingTensor> _tensors = [];
    readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    /// <summary>Writes exactly the tensor's declared byte size to the stream.</summary>
    public delegate void TensorDataWriter(Stream destination);

    sealed record PendingTensor(string Name, long[] Dimensions, GgmlType Type, long ByteSize, TensorDataWriter WriteData);

    public uint Alignment { get; private set; } = GgufHeader.DefaultAlignment;

    /// <summary>Sets (or replaces) a metadata value; a value whose CLR type does not match its tag is rejected here, not at write time.</summary>
    public GgufWriter Set(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        CheckValue(key, value.Type, value.Value);
        if (key == "general.alignment")
        {
            if (value.Value is not uint a || a == 0 || (a & (a - 1)) != 0) throw new ArgumentException("general.alignment must be a power-of-two uint32", nameof(value));
            Alignment = a;
        }
        int existing = _metadata.FindIndex(kv => kv.Key == key);
        if (existing >= 0) _metadata[existing] = (key, value);
        else _metadata.Add((key, value));
        return this;
    }

    public GgufWriter Set(string key, string value) => Set(key, new GgufValue(GgufValueType.String, value));
    public GgufWriter Set(string key, uint value) => Set(key, new GgufValue(GgufValueType.UInt32, value));
    public GgufWriter Set(string key, int value) => Set(key, new GgufValue(GgufValueType.Int32, value));
    public GgufWriter Set(string key, float value) => Set(key, new GgufValue(GgufValueType.Float32, value));
    public GgufWriter Set(string key, bool value) => Set(key, new GgufValue(GgufValueType.Bool, value));
    public GgufWriter SetArray(string key, GgufValueType elementType, Array items) =>
        Set(key, new GgufValue(GgufValueType.Array, new GgufArray(elementType, items)));

    /// <summary>Declares a tensor of <paramref name="dimensions"/> (ne0 first) whose bytes <paramref name="writeData"/> will produce.</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] dimensions, TensorDataWriter writeData)
    {
        if (_tensorNames.Contains(name)) throw new ArgumentException($"duplicate tensor name {name}");
        if (dimensions.Length is 0 or > GgufReader.MaxDimensions) throw new ArgumentException($"{name}: {dimensions.Length} dimensions");
        if (dimensions.Any(d => d < 0)) throw new ArgumentException($"{name}: negative dimension in [{string.Join(", ", dimensions)}]");
        long rows = 1;
        for (int i = 1; i < dimensions.Length; i++) rows = checked(rows * dimensions[i]);
        long bytes = checked((GgmlTypeInfo.TryRowBytes(type, dimensions[0]) ?? throw new ArgumentException($"{name}: ne0 {dimensions[0]} is not a whole number of {type} blocks")) * rows);
        _tensorNames.Add(name);
        _tensors.Add(new PendingTensor(name, dimensions.ToArray(), type, bytes, writeData));
        return this;
    }

    public GgufWriter AddTensor(string name, GgmlType type, long[] dimensions, ReadOnlyMemory<byte> data) =>
        AddTensor(name, type, dimensions, s => s.Write(data.Span));

    public void WriteTo(string path) => AtomicFile.Write(path, WriteTo);

    public void WriteTo(Stream stream)
    {
        var header = new MemoryStream();
        WriteU32(header, GgufHeader.Magic);
        WriteU32(header, 3);
        WriteU64(header, (ulong)_tensors.Count);
        WriteU64(header, (ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(header, key);
            WriteU32(header, (uint)value.Type);
            WriteValue(header, value.Type, value.Value);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            offsets[i] = offset;
            WriteString(header, t.Name);
            WriteU32(header, (uint)t.Dimensions.Length);
            foreach (var d in t.Dimensions) WriteU64(header, (ulong)d);
            WriteU32(header, (uint)t.Type);
            WriteU64(header, (ulong)offset);
            offset = GgufReader.AlignUp(offset + t.ByteSize, Alignment);
        }
        Pad(header, header.Length, Alignment);
        header.Position = 0;
        header.CopyTo(stream);

        long written = 0;
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            var counting = new CountingStream(stream);
            t.WriteData(counting);
            if (counting.Count != t.ByteSize)
                throw new InvalidOperationException($"{t.Name}: wrote {counting.Count} bytes, declared {t.ByteSize}");
            written = offsets[i] + t.ByteSize;
            if (i + 1 < _tensors.Count) Pad(stream, written, Alignment);
        }
        stream.Flush();
    }

    static void Pad(Stream s, long position, long alignment)
    {
        long pad = GgufReader.AlignUp(position, alignment) - position;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }

    static void WriteValue(Stream s, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: s.WriteByte((byte)value); break;
            case GgufValueType.Int8: s.WriteByte((byte)(sbyte)value); break;
            case GgufValueType.UInt16: WriteU16(s, (ushort)value); break;
            case GgufValueType.Int16: WriteU16(s, (ushort)(short)value); break;
            case GgufValueType.UInt32: WriteU32(s, (uint)value); break;
            case GgufValueType.Int32: WriteU32(s, (uint)(int)value); break;
            case GgufValueType.Float32: WriteU32(s, (uint)BitConverter.SingleToInt32Bits((float)value)); break;
            case GgufValueType.UInt64: WriteU64(s, (ulong)value); break;
            case GgufValueType.Int64: WriteU64(s, (ulong)(long)value); break;
            case GgufValueType.Float64: WriteU64(s, (ulong)BitConverter.DoubleToInt64Bits((double)value)); break;
            case GgufValueType.Bool: s.WriteByte((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(s, (string)value); break;
            case GgufValueType.Array:
                var array = (GgufArray)value;
                WriteU32(s, (uint)array.ElementType);
                WriteU64(s, (ulong)array.Items.Length);
                foreach (var item in array.Items) WriteValue(s, array.ElementType, item!);
                break;
            default: throw new ArgumentException($"unknown value type {type}");
        }
    }

    static void CheckValue(string key, GgufValueType type, object value)
    {
        if (value.GetType() != ClrType(type)) throw new ArgumentException($"{key}: a {type} value cannot hold a {value.GetType().Name}");
        if (value is not GgufArray array) return;
        // Items must be the typed array the reader would produce (byte[], string[], GgufArray[], …).
        if (array.Items.GetType().GetElementType() != ClrType(array.ElementType) || array.Items.Rank != 1)
            throw new ArgumentException($"{key}: an array of {array.ElementType} cannot be a {array.Items.GetType().Name}");
        if (array.ElementType is GgufValueType.String or GgufValueType.Array)
            foreach (var item in array.Items)
                CheckValue(key, array.ElementType, item ?? throw new ArgumentException($"{key}: null array element"));
    }

    static Type ClrType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.Array => typeof(GgufArray),
        _ => throw new ArgumentException($"unknown value type {type}"),
    };

    static void WriteString(Stream s, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        WriteU64(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    static void WriteU16(Stream s, ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); s.Write(b); }
    static void WriteU32(Stream s, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); s.Write(b); }
    static void WriteU64(Stream s, ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); s.Write(b); }
}

using System.Buffers.Binary;
using System.Text;
using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// Parses and validates a GGUF v2/v3 header from bytes in memory. Every count, length and offset is checked
/// against the bytes that remain before it is trusted, so a corrupt file fails with a
/// <see cref="GgufFormatException"/> naming the field instead of allocating gigabytes or reading past the end.
/// Any input bytes give either a header whose tensors all lie, without overlap, inside the data section, or a
/// <see cref="GgufFormatException"/>; nothing else escapes.
/// </summary>
public static unsafe class GgufReader
{
    /// <summary>Arrays nest only a level or two in real files; the cap keeps hostile input from exhausting the stack.</summary>
    public const int MaxArrayNesting = 8;
    /// <summary>ggml tensors have at most four dimensions.</summary>
    public const int MaxDimensions = 4;
    /// <summary>The GGUF spec limits metadata keys to 65535 bytes.</summary>
    public const int MaxKeyBytes = ushort.MaxValue;
    /// <summary>The GGUF spec limits tensor names to 64 bytes (ggml's GGML_MAX_NAME).</summary>
    public const int MaxTensorNameBytes = 64;
    /// <summary>
    /// Metadata strings (chat templates are the longest, tens of KB) stay far below this; the cap keeps a corrupt
    /// length in a multi-gigabyte file from decoding into a string larger than .NET can hold.
    /// </summary>
    public const int MaxStringBytes = 256 << 20;

    public static GgufHeader Parse(ReadOnlySpan<byte> file)
    {
        fixed (byte* p = file) return Parse(p, file.Length);
    }

    /// <summary>Parses the header of a file whose first <paramref name="length"/> bytes are at <paramref name="data"/>.</summary>
    public static GgufHeader Parse(byte* data, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var r = new Cursor(data, length);
        uint magic = r.U32("magic");
        if (magic != GgufHeader.Magic)
            throw new GgufFormatException("magic", 0, $"expected \"GGUF\", found 0x{magic:X8}");
        uint version = r.U32("version");
        if (version is not (2 or 3))
        {
            string hint = version switch
            {
                1 => " (v1 used 32-bit counts; convert the file with a current llama.cpp)",
                _ when BinaryPrimitives.ReverseEndianness(version) is 2 or 3 => " (a big-endian file; only little-endian GGUF is supported)",
                _ => "",
            };
            throw new GgufFormatException("version", 4, $"unsupported version {version}; 2 and 3 are supported{hint}");
        }

        // A tensor info is at least a name length, n_dims, one dimension, a type and an offset; a metadata pair at
        // least a key length, a one-byte key, a type and a one-byte value. Counts that cannot fit are rejected
        // before anything is sized by them.
        long tensorCount = r.Count("tensor_count", minBytesEach: 8 + 4 + 8 + 4 + 8);
        long kvCount = r.Count("metadata_kv_count", minBytesEach: 8 + 1 + 4 + 1);

        var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        var keys = new List<string>((int)Math.Min(kvCount, 1024));
        long alignmentAt = -1;
        for (long i = 0; i < kvCount; i++)
        {
            long at = r.Position;
            string key = r.String($"metadata key #{i}", MaxKeyBytes);
            if (key.Length == 0) throw new GgufFormatException($"metadata key #{i}", at, "empty key");
            if (metadata.ContainsKey(key)) throw new GgufFormatException(key, at, "duplicate metadata key");
            var type = r.ValueType(key);
            if (key == "general.alignment") alignmentAt = r.Position;
            metadata.Add(key, ReadValue(ref r, key, type, depth: 0));
            keys.Add(key);
        }

        uint alignment = GgufHeader.DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out var alignValue))
        {
            if (alignValue.Value is not uint a || a == 0 || (a & (a - 1)) != 0)
                throw new GgufFormatException("general.alignment", alignmentAt, $"must be a power-of-two uint32, found {alignValue.Type} {alignValue}");
            alignment = a;
        }

        var infos = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 4096));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++) infos.Add(ReadTensorInfo(ref r, i, alignment, names));

        long dataOffset = AlignUp(r.Position, alignment);
        if (tensorCount > 0 && dataOffset > length)
            throw new GgufFormatException("tensor data", r.Position, $"file ends ({length} bytes) before the data section at {dataOffset} (truncated?)");
        CheckDataLayout(infos, dataOffset, Math.Max(0, length - dataOffset));

        return new GgufHeader
        {
            Version = version,
            Metadata = metadata,
            MetadataKeys = keys,
            Tensors = infos,
            Alignment = alignment,
            DataOffset = dataOffset,
        };
    }

    /// <summary>Rounds <paramref name="value"/> (≥ 0) up to a multiple of <paramref name="alignment"/> (&gt; 0).</summary>
    public static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    static GgufTensorInfo ReadTensorInfo(ref Cursor r, long index, uint alignment, HashSet<string> names)
    {
        long at = r.Position;
        string name = r.String($"tensor #{index} name", MaxTensorNameBytes);
        if (!names.Add(name)) throw new GgufFormatException(name, at, "duplicate tensor name");
        uint nDims = r.U32($"{name}: n_dims");
        if (nDims == 0 || nDims > MaxDimensions)
            throw new GgufFormatException($"{name}: n_dims", r.Position - 4, $"{nDims} dimensions (1..{MaxDimensions} allowed)");
        var dims = new long[nDims];
        long elements = 1;
        // The product of the non-zero dimensions must fit too: a zero dimension would otherwise let its
        // neighbours be astronomically large, and views that index by one dimension would overflow.
        long extent = 1;
        for (int d = 0; d < nDims; d++)
        {
            long dimAt = r.Position;
            ulong ne = r.U64($"{name}: ne[{d}]");
            if (ne > long.MaxValue) throw new GgufFormatException($"{name}: ne[{d}]", dimAt, $"dimension {ne} is absurd");
            dims[d] = (long)ne;
            if (!TryMultiply(extent, Math.Max((long)ne, 1), out extent) || !TryMultiply(elements, (long)ne, out elements))
                throw new GgufFormatException($"{name}: ne[{d}]", dimAt, $"shape [{string.Join(", ", dims[..(d + 1)])}] overflows 64-bit element counts");
        }
        long typeAt = r.Position;
        uint typeId = r.U32($"{name}: type");
        var type = (GgmlType)typeId;
        if (!GgmlTypeInfo.IsKnown(type)) throw new GgufFormatException($"{name}: type", typeAt, $"unknown ggml type id {typeId}");
        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (dims[0] % blockSize != 0)
            throw new GgufFormatException($"{name}: ne[0]", typeAt, $"{dims[0]} is not a multiple of the {type} block size {blockSize}");
        long bytes = 0;
        if (elements != 0 && (GgmlTypeInfo.TryRowBytes(type, dims[0]) is not long rowBytes || !TryMultiply(rowBytes, elements / dims[0], out bytes)))
            throw new GgufFormatException($"{name}: shape", typeAt, $"byte size of a {type} tensor of {elements} elements overflows 64 bits");
        long offsetAt = r.Position;
        ulong offset = r.U64($"{name}: offset");
        if (offset > long.MaxValue) throw new GgufFormatException($"{name}: offset", offsetAt, $"offset {offset} is absurd");
        if (offset % alignment != 0)
            throw new GgufFormatException($"{name}: offset", offsetAt, $"offset {offset} is not a multiple of the alignment {alignment}");
        return new GgufTensorInfo(name, dims, type, (long)offset, bytes);
    }

    /// <summary>Every tensor must lie inside the data section, and no two may share a byte.</summary>
    static void CheckDataLayout(List<GgufTensorInfo> infos, long dataOffset, long dataLength)
    {
        foreach (var t in infos)
        {
            if (t.DataOffset > dataLength || t.ByteSize > dataLength - t.DataOffset)
                throw new GgufFormatException($"{t.Name}: data", dataOffset + Math.Min(t.DataOffset, dataLength),
                    $"{t.ByteSize} bytes at data offset {t.DataOffset} run past the end of the file (data section holds {dataLength} bytes; truncated?)");
        }
        var byOffset = infos.Where(t => t.ByteSize > 0).OrderBy(t => t.DataOffset).ToArray();
        for (int i = 1; i < byOffset.Length; i++)
        {
            var prev = byOffset[i - 1];
            var next = byOffset[i];
            // Both ends are inside the data section (checked above), so the sum cannot overflow.
            if (prev.DataOffset + prev.ByteSize > next.DataOffset)
                throw new GgufFormatException($"{next.Name}: data", dataOffset + next.DataOffset,
                    $"overlaps tensor {prev.Name} (data offsets {prev.DataOffset}..{prev.DataOffset + prev.ByteSize})");
        }
    }

    static bool TryMultiply(long a, long b, out long product)
    {
        Int128 p = (Int128)a * b;
        product = (long)p;
        return p <= long.MaxValue;
    }

    static GgufValue ReadValue(ref Cursor r, string key, GgufValueType type, int depth) => type switch
    {
        GgufValueType.UInt8 => new(type, r.U8(key)),
        GgufValueType.Int8 => new(type, (sbyte)r.U8(key)),
        GgufValueType.UInt16 => new(type, r.U16(key)),
        GgufValueType.Int16 => new(type, (short)r.U16(key)),
        GgufValueType.UInt32 => new(type, r.U32(key)),
        GgufValueType.Int32 => new(type, (int)r.U32(key)),
        GgufValueType.Float32 => new(type, BitConverter.Int32BitsToSingle((int)r.U32(key))),
        GgufValueType.UInt64 => new(type, r.U64(key)),
        GgufValueType.Int64 => new(type, (long)r.U64(key)),
        GgufValueType.Float64 => new(type, BitConverter.Int64BitsToDouble((long)r.U64(key))),
        GgufValueType.Bool => new(type, r.Bool(key)),
        GgufValueType.String => new(type, r.String(key, MaxStringBytes)),
        // Cursor.ValueType admits only the tags above and Array.
        _ => new(type, ReadArray(ref r, key, depth)),
    };

    static GgufArray ReadArray(ref Cursor r, string key, int depth)
    {
        if (depth >= MaxArrayNesting) throw new GgufFormatException(key, r.Position, $"arrays nested deeper than {MaxArrayNesting}");
        var elementType = r.ValueType(key + ": array element type");
        // The smallest encoding of one element: a string is at least its length, a nested array its type and count.
        int minBytes = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.Array => 12,
            _ => 8,
        };
        long countAt = r.Position;
        long count = r.Count(key + ": array length", minBytes);
        if (count > Array.MaxLength) throw new GgufFormatException(key + ": array length", countAt, $"array of {count} elements is absurd");
        int n = (int)count;
        switch (elementType)
        {
            case GgufValueType.UInt8: return new(elementType, r.Bytes(key, n).ToArray());
            case GgufValueType.Int8: return new(elementType, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(r.Bytes(key, n)).ToArray());
            case GgufValueType.UInt16: return new(elementType, Fill<ushort>(ref r, key, n, static (ref Cursor c, string k) => c.U16(k)));
            case GgufValueType.Int16: return new(elementType, Fill<short>(ref r, key, n, static (ref Cursor c, string k) => (short)c.U16(k)));
            case GgufValueType.UInt32: return new(elementType, Fill<uint>(ref r, key, n, static (ref Cursor c, string k) => c.U32(k)));
            case GgufValueType.Int32: return new(elementType, Fill<int>(ref r, key, n, static (ref Cursor c, string k) => (int)c.U32(k)));
            case GgufValueType.Float32: return new(elementType, Fill<float>(ref r, key, n, static (ref Cursor c, string k) => BitConverter.Int32BitsToSingle((int)c.U32(k))));
            case GgufValueType.UInt64: return new(elementType, Fill<ulong>(ref r, key, n, static (ref Cursor c, string k) => c.U64(k)));
            case GgufValueType.Int64: return new(elementType, Fill<long>(ref r, key, n, static (ref Cursor c, string k) => (long)c.U64(k)));
            case GgufValueType.Float64: return new(elementType, Fill<double>(ref r, key, n, static (ref Cursor c, string k) => BitConverter.Int64BitsToDouble((long)c.U64(k))));
            case GgufValueType.Bool: return new(elementType, Fill<bool>(ref r, key, n, static (ref Cursor c, string k) => c.Bool(k)));
            case GgufValueType.String: return new(elementType, Fill<string>(ref r, key, n, static (ref Cursor c, string k) => c.String(k, MaxStringBytes)));
            default:
                var nested = new GgufArray[n];
                for (int i = 0; i < n; i++) nested[i] = ReadArray(ref r, key, depth + 1);
                return new(elementType, nested);
        }
    }

    delegate T ReadOne<T>(ref Cursor r, string key);

    static T[] Fill<T>(ref Cursor r, string key, int n, ReadOne<T> read)
    {
        var items = new T[n];
        for (int i = 0; i < n; i++) items[i] = read(ref r, key);
        return items;
    }

    /// <summary>A bounds-checked little-endian reader over the mapped header bytes.</summary>
    ref struct Cursor(byte* data, long length)
    {
        readonly byte* _data = data;
        readonly long _length = length;
        public long Position;

        /// <summary>Callers pass at most <see cref="int.MaxValue"/> bytes.</summary>
        ReadOnlySpan<byte> Take(string field, long n)
        {
            if (n > _length - Position)
                throw new GgufFormatException(field, Position, $"needs {n} bytes but the file ends at byte {_length} (truncated?)");
            var span = new ReadOnlySpan<byte>(_data + Position, (int)n);
            Position += n;
            return span;
        }

        public ReadOnlySpan<byte> Bytes(string field, int n) => Take(field, n);
        public byte U8(string field) => Take(field, 1)[0];
        public ushort U16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(field, 2));
        public uint U32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(field, 4));
        public ulong U64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(field, 8));

        public bool Bool(string field)
        {
            byte b = U8(field);
            return b switch
            {
                0 => false,
                1 => true,
                _ => throw new GgufFormatException(field, Position - 1, $"bool byte {b} is neither 0 nor 1"),
            };
        }

        public GgufValueType ValueType(string field)
        {
            uint t = U32(field);
            if (t > (uint)GgufValueType.Float64) throw new GgufFormatException(field, Position - 4, $"unknown value type {t}");
            return (GgufValueType)t;
        }

        /// <summary>A 64-bit count whose elements need at least <paramref name="minBytesEach"/> bytes each of what remains.</summary>
        public long Count(string field, int minBytesEach)
        {
            ulong n = U64(field);
            ulong remaining = (ulong)(_length - Position);
            if (n > remaining / (ulong)minBytesEach)
                throw new GgufFormatException(field, Position - 8, $"count {n} cannot fit in the {remaining} bytes that remain (truncated or corrupt?)");
            return (long)n;
        }

        /// <summary>A length-prefixed UTF-8 string of at most <paramref name="maxBytes"/> bytes; invalid UTF-8 decodes to U+FFFD.</summary>
        public string String(string field, int maxBytes)
        {
            long at = Position;
            ulong n = U64(field + ": string length");
            if (n > (ulong)(_length - Position))
                throw new GgufFormatException(field, at, $"string of {n} bytes runs past the end of the file (truncated?)");
            if (n > (ulong)maxBytes) throw new GgufFormatException(field, at, $"string of {n} bytes exceeds the {maxBytes}-byte limit");
            return Encoding.UTF8.GetString(Take(field, (long)n));
        }
    }
}

using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// Parses and validates a safetensors header: an 8-byte little-endian length N, N bytes of UTF-8 JSON (an object of
/// tensor name → <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> and an optional <c>"__metadata__"</c> object
/// of strings, padded with spaces), then the data. Every length is checked against the bytes that remain before it is
/// trusted, and the tensors' byte ranges must cover the data exactly, in any order, each the size its shape and dtype
/// give (the format's own rule, which also rules out polyglot files). Any input bytes give either a header whose
/// tensors all lie, without overlap, inside the data, or a <see cref="SafetensorsFormatException"/>; nothing else
/// escapes.
/// </summary>
public static unsafe class SafetensorsReader
{
    /// <summary>The reference implementation's limit on the JSON header (100 MB); real headers are tens of KB.</summary>
    public const long MaxHeaderBytes = 100_000_000;
    /// <summary>Real tensors have at most five dimensions or so; more is a corrupt or hostile header.</summary>
    public const int MaxRank = 8;
    /// <summary>Hugging Face tensor names are well under a hundred bytes; the cap keeps absurd ones out of messages and tables.</summary>
    public const int MaxNameBytes = 4096;

    const string MetadataKey = "__metadata__";

    public static SafetensorsHeader Parse(ReadOnlySpan<byte> file)
    {
        fixed (byte* p = file) return Parse(p, file.Length);
    }

    /// <summary>Parses the header of a file whose first <paramref name="length"/> bytes are at <paramref name="data"/>.</summary>
    public static SafetensorsHeader Parse(byte* data, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length < 8)
            throw new SafetensorsFormatException("header length", 0, $"file holds {length} bytes, fewer than the 8 of the header length (truncated?)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(data, 8));
        if (n > MaxHeaderBytes)
            throw new SafetensorsFormatException("header length", 0, $"{n} bytes is absurd (the format allows at most {MaxHeaderBytes}; is this a safetensors file?)");
        if (n > (ulong)(length - 8))
            throw new SafetensorsFormatException("header length", 0, $"a {n}-byte header does not fit in the {length - 8} bytes after the length (truncated?)");
        if (n < 2)
            throw new SafetensorsFormatException("header", 8, $"{n} bytes cannot hold a JSON object");
        var json = new ReadOnlySpan<byte>(data + 8, (int)n);
        if (json[0] != (byte)'{')
            throw new SafetensorsFormatException("header", 8, $"must start with '{{', found 0x{json[0]:X2}");

        var (tensors, metadata) = ParseJson(json);
        long dataLength = length - 8 - (long)n;
        CheckLayout(tensors, 8 + (long)n, dataLength);
        return new SafetensorsHeader { Tensors = tensors, Metadata = metadata, HeaderLength = (long)n };
    }

    static (List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) ParseJson(ReadOnlySpan<byte> json)
    {
        var tensors = new List<SafetensorsTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        // Depth: the root object, a tensor entry, its arrays.
        var r = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 3 });
        string field = "header";
        try
        {
            Next(ref r, JsonTokenType.StartObject, field);
            while (true)
            {
                Read(ref r, field);
                if (r.TokenType == JsonTokenType.EndObject) break;
                long entryAt = At(r);
                string name = Name(ref r, "tensor name");
                field = name;
                if (name == MetadataKey)
                {
                    if (sawMetadata) throw new SafetensorsFormatException(name, entryAt, "appears twice");
                    sawMetadata = true;
                    ReadMetadata(ref r, metadata);
                    continue;
                }
                if (!names.Add(name)) throw new SafetensorsFormatException(name, entryAt, "duplicate tensor name");
                tensors.Add(ReadTensor(ref r, name, entryAt));
            }
            // The reader refuses anything but whitespace after the root object.
            if (r.Read()) throw new SafetensorsFormatException("header", At(r), "holds more than one JSON value");
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(field, 8 + r.BytesConsumed, $"is not valid JSON ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            // Strings that are not valid UTF-8 are reported when they are decoded.
            throw new SafetensorsFormatException(field, 8 + r.TokenStartIndex, $"is not valid UTF-8 JSON text ({e.Message})");
        }
        return (tensors, metadata);
    }

    static SafetensorsTensorInfo ReadTensor(ref Utf8JsonReader r, string name, long entryAt)
    {
        Next(ref r, JsonTokenType.StartObject, name);
        string? dtype = null;
        long[]? shape = null;
        (long Begin, long End)? offsets = null;
        while (true)
        {
            Read(ref r, name);
            if (r.TokenType == JsonTokenType.EndObject) break;
            long keyAt = At(r);
            string key = Name(ref r, $"{name}: key");
            switch (key)
            {
                case "dtype" when dtype is null:
                    Next(ref r, JsonTokenType.String, $"{name}: dtype");
                    dtype = r.GetString()!;
                    if (SafetensorsDtypes.ElementSize(dtype) is null)
                        throw new SafetensorsFormatException($"{name}: dtype", At(r), $"unknown or unsupported dtype \"{Shorten(dtype)}\"");
                    break;
                case "shape" when shape is null:
                    shape = ReadShape(ref r, name);
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadOffsets(ref r, name);
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw new SafetensorsFormatException($"{name}: {key}", keyAt, "appears twice");
                default:
                    throw new SafetensorsFormatException($"{name}: {Shorten(key)}", keyAt, "unknown key in a tensor entry (expected dtype, shape, data_offsets)");
            }
        }
        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new SafetensorsFormatException($"{name}: {missing}", entryAt, "missing");
        }
        return new SafetensorsTensorInfo(name, dtype, shape, offsets.Value.Begin, offsets.Value.End, entryAt);
    }

    static long[] ReadShape(ref Utf8JsonReader r, string name)
    {
        string field = $"{name}: shape";
        Next(ref r, JsonTokenType.StartArray, field);
        var dims = new List<long>(4);
        // The product of the non-zero dimensions must fit too: a zero dimension would otherwise let its neighbours
        // be astronomically large.
        long extent = 1;
        while (true)
        {
            Read(ref r, field);
            if (r.TokenType == JsonTokenType.EndArray) break;
            long at = At(r);
            if (dims.Count == MaxRank) throw new SafetensorsFormatException(field, at, $"more than {MaxRank} dimensions");
            long d = NonNegative(ref r, field);
            if (!TryMultiply(extent, Math.Max(d, 1), out extent))
                throw new SafetensorsFormatException(field, at, $"[{string.Join(", ", dims)}, {d}, …] overflows 64-bit element counts");
            dims.Add(d);
        }
        return [.. dims];
    }

    static (long Begin, long End) ReadOffsets(ref Utf8JsonReader r, string name)
    {
        string field = $"{name}: data_offsets";
        Next(ref r, JsonTokenType.StartArray, field);
        long at = At(r);
        Read(ref r, field);
        long begin = r.TokenType == JsonTokenType.EndArray ? throw Pair(field, at) : NonNegative(ref r, field);
        Read(ref r, field);
        long end = r.TokenType == JsonTokenType.EndArray ? throw Pair(field, at) : NonNegative(ref r, field);
        Read(ref r, field);
        if (r.TokenType != JsonTokenType.EndArray) throw Pair(field, at);
        if (end < begin) throw new SafetensorsFormatException(field, at, $"[{begin}, {end}] ends before it begins");
        return (begin, end);
    }

    static SafetensorsFormatException Pair(string field, long at) => new(field, at, "must be an array of exactly two offsets [begin, end]");

    static void ReadMetadata(ref Utf8JsonReader r, Dictionary<string, string> metadata)
    {
        Next(ref r, JsonTokenType.StartObject, MetadataKey);
        while (true)
        {
            Read(ref r, MetadataKey);
            if (r.TokenType == JsonTokenType.EndObject) return;
            long at = At(r);
            string key = Name(ref r, $"{MetadataKey} key");
            string field = $"{MetadataKey}.{key}";
            Next(ref r, JsonTokenType.String, field);
            if (!metadata.TryAdd(key, r.GetString()!)) throw new SafetensorsFormatException(field, at, "duplicate metadata key");
        }
    }

    /// <summary>A property name of at most <see cref="MaxNameBytes"/> bytes (the reader is positioned on it).</summary>
    static string Name(ref Utf8JsonReader r, string field)
    {
        if (r.TokenType != JsonTokenType.PropertyName) throw Unexpected(ref r, field, "a property name");
        if (r.ValueSpan.Length > MaxNameBytes) throw new SafetensorsFormatException(field, At(r), $"a name of {r.ValueSpan.Length} bytes exceeds the {MaxNameBytes}-byte limit");
        string name = r.GetString()!;
        if (name.Length == 0) throw new SafetensorsFormatException(field, At(r), "empty name");
        return name;
    }

    static long NonNegative(ref Utf8JsonReader r, string field)
    {
        if (r.TokenType != JsonTokenType.Number || !r.TryGetUInt64(out ulong v) || v > long.MaxValue)
            throw new SafetensorsFormatException(field, At(r), $"{Token(ref r)} is not a non-negative 64-bit integer");
        return (long)v;
    }

    static void Read(ref Utf8JsonReader r, string field)
    {
        if (!r.Read()) throw new SafetensorsFormatException(field, 8 + r.BytesConsumed, "the JSON ends early");
    }

    static void Next(ref Utf8JsonReader r, JsonTokenType expected, string field)
    {
        Read(ref r, field);
        if (r.TokenType != expected) throw Unexpected(ref r, field, expected switch
        {
            JsonTokenType.StartObject => "an object",
            JsonTokenType.StartArray => "an array",
            JsonTokenType.String => "a string",
            _ => expected.ToString(),
        });
    }

    static SafetensorsFormatException Unexpected(ref Utf8JsonReader r, string field, string expected) =>
        new(field, At(r), $"expected {expected}, found {Token(ref r)}");

    static string Token(ref Utf8JsonReader r) => r.TokenType switch
    {
        JsonTokenType.Number or JsonTokenType.String => $"{r.TokenType.ToString().ToLowerInvariant()} {Shorten(Encoding.UTF8.GetString(r.ValueSpan))}",
        var t => t.ToString(),
    };

    static long At(in Utf8JsonReader r) => 8 + r.TokenStartIndex;

    static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";

    /// <summary>
    /// The tensors' ranges, in order of their offsets, must tile the data section: each begins where the last ended,
    /// holds exactly its shape × dtype bytes, and the last ends at the end of the file.
    /// </summary>
    static void CheckLayout(List<SafetensorsTensorInfo> tensors, long dataOffset, long dataLength)
    {
        foreach (var t in tensors)
        {
            long size = SafetensorsDtypes.ElementSize(t.Dtype)!.Value;
            long elements = 1;
            foreach (var d in t.Shape)
                if (!TryMultiply(elements, d, out elements)) break;
            if (!TryMultiply(elements, size, out long bytes) || bytes != t.ByteSize)
                throw new SafetensorsFormatException($"{t.Name}: data_offsets", t.HeaderOffset,
                    $"[{t.Begin}, {t.End}] holds {t.ByteSize} bytes, but shape {t.ShapeText} of {t.Dtype} needs {(Int128)elements * size}");
            if (t.End > dataLength)
                throw new SafetensorsFormatException($"{t.Name}: data_offsets", t.HeaderOffset,
                    $"[{t.Begin}, {t.End}] runs past the end of the data ({dataLength} bytes from byte {dataOffset}; truncated?)");
        }
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (var t in tensors)
        {
            if (t.Begin < expected)
                throw new SafetensorsFormatException($"{t.Name}: data_offsets", t.HeaderOffset, $"[{t.Begin}, {t.End}] overlaps tensor {previous!.Name} [{previous.Begin}, {previous.End}]");
            if (t.Begin > expected)
                throw new SafetensorsFormatException($"{t.Name}: data_offsets", t.HeaderOffset, $"[{t.Begin}, {t.End}] leaves bytes {expected}..{t.Begin} of the data unused (the format forbids holes)");
            expected = t.End;
            previous = t;
        }
        if (expected != dataLength)
            throw new SafetensorsFormatException("data", dataOffset + expected,
                $"{dataLength - expected} bytes after the last tensor belong to none (the tensors hold {expected} of the {dataLength} data bytes)");
    }

    static bool TryMultiply(long a, long b, out long product)
    {
        Int128 p = (Int128)a * b;
        product = (long)p;
        return p <= long.MaxValue;
    }
}

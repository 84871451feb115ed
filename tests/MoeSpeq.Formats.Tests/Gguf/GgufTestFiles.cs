using System.Buffers.Binary;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary>
/// Small GGUF files built with <see cref="GgufWriter"/>, and byte patching over them. The synthetic model has
/// metadata of every value type, nested arrays, and tensors of several dtypes including 3-D stacked experts, so
/// one file exercises every branch of the reader.
/// </summary>
static class GgufTestFiles
{
    /// <summary>Every scalar metadata type, keyed by a name that says which.</summary>
    public static readonly (string Key, GgufValue Value)[] Scalars =
    [
        ("test.u8", new(GgufValueType.UInt8, (byte)250)),
        ("test.i8", new(GgufValueType.Int8, (sbyte)-7)),
        ("test.u16", new(GgufValueType.UInt16, (ushort)65000)),
        ("test.i16", new(GgufValueType.Int16, (short)-30000)),
        ("test.u32", new(GgufValueType.UInt32, 4_000_000_000u)),
        ("test.i32", new(GgufValueType.Int32, -2_000_000_000)),
        ("test.f32", new(GgufValueType.Float32, -1.25e-3f)),
        ("test.u64", new(GgufValueType.UInt64, ulong.MaxValue - 1)),
        ("test.i64", new(GgufValueType.Int64, long.MinValue + 3)),
        ("test.f64", new(GgufValueType.Float64, Math.PI)),
        ("test.bool", new(GgufValueType.Bool, true)),
        ("test.string", new(GgufValueType.String, "héllo, 世界 🙂")),
    ];

    /// <summary>Arrays of every element type, empty arrays and arrays nested two and three deep.</summary>
    public static readonly (string Key, GgufArray Array)[] Arrays =
    [
        ("test.arr.u8", new(GgufValueType.UInt8, new byte[] { 0, 1, 255 })),
        ("test.arr.i8", new(GgufValueType.Int8, new sbyte[] { -128, 0, 127 })),
        ("test.arr.u16", new(GgufValueType.UInt16, new ushort[] { 0, 65535 })),
        ("test.arr.i16", new(GgufValueType.Int16, new short[] { -32768, 32767 })),
        ("test.arr.u32", new(GgufValueType.UInt32, new uint[] { 1, uint.MaxValue })),
        ("test.arr.i32", new(GgufValueType.Int32, new[] { int.MinValue, -1, int.MaxValue })),
        ("test.arr.f32", new(GgufValueType.Float32, new[] { 0.5f, float.NegativeInfinity, float.Epsilon })),
        ("test.arr.u64", new(GgufValueType.UInt64, new ulong[] { 0, ulong.MaxValue })),
        ("test.arr.i64", new(GgufValueType.Int64, new[] { long.MinValue, long.MaxValue })),
        ("test.arr.f64", new(GgufValueType.Float64, new[] { -0.0, double.MaxValue })),
        ("test.arr.bool", new(GgufValueType.Bool, new[] { true, false, true })),
        ("test.arr.string", new(GgufValueType.String, new[] { "a", "", "bé", "<0x0A>" })),
        ("test.arr.empty", new(GgufValueType.Float32, Array.Empty<float>())),
        ("test.arr.nested", new(GgufValueType.Array, new[]
        {
            new GgufArray(GgufValueType.Int32, new[] { 1, 2 }),
            new GgufArray(GgufValueType.String, new[] { "x", "yz" }),
            new GgufArray(GgufValueType.UInt8, Array.Empty<byte>()),
        })),
        ("test.arr.nested3", new(GgufValueType.Array, new[]
        {
            new GgufArray(GgufValueType.Array, new[]
            {
                new GgufArray(GgufValueType.Float64, new[] { 1.5, -2.5 }),
                new GgufArray(GgufValueType.Bool, new[] { false }),
            }),
            new GgufArray(GgufValueType.Array, Array.Empty<GgufArray>()),
        })),
    ];

    /// <summary>Tensor declarations of the synthetic model: name, dtype, dims (ne0 first).</summary>
    public static readonly (string Name, GgmlType Type, long[] Dims)[] ModelTensors =
    [
        ("token_embd.weight", GgmlType.F32, [8, 6]),
        ("blk.0.attn_q.weight", GgmlType.F16, [8, 8]),
        ("blk.0.ffn_gate_inp.weight", GgmlType.BF16, [8, 4]),
        ("blk.0.ffn_gate_exps.weight", GgmlType.Q8_0, [64, 3, 4]),
        ("blk.0.ffn_down_exps.weight", GgmlType.Q4_K, [256, 2, 4]),
        ("blk.0.ffn_up_exps.weight", GgmlType.MXFP4, [32, 2, 4]),
        ("blk.0.empty", GgmlType.F32, [0, 4]),
        ("output_norm.weight", GgmlType.F32, [8]),
    ];

    /// <summary>The deterministic bytes of a tensor: a pattern that differs per tensor and per byte.</summary>
    public static byte[] TensorData(int tensorIndex, long byteSize)
    {
        var data = new byte[byteSize];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 31 + tensorIndex * 17 + 1);
        return data;
    }

    public static long ByteSize(GgmlType type, long[] dims) =>
        GgmlTypeInfo.TryRowBytes(type, dims[0])!.Value * dims.Skip(1).Aggregate(1L, (a, b) => a * b);

    /// <summary>A writer holding the synthetic model; callers may add to it before writing.</summary>
    public static GgufWriter SyntheticModelWriter(uint? alignment = null)
    {
        var w = new GgufWriter().Set("general.architecture", "mixtral").Set("general.name", "synthetic moe");
        if (alignment is uint a) w.Set("general.alignment", a);
        foreach (var (key, value) in Scalars) w.Set(key, value);
        foreach (var (key, array) in Arrays) w.Set(key, new GgufValue(GgufValueType.Array, array));
        for (int i = 0; i < ModelTensors.Length; i++)
        {
            var (name, type, dims) = ModelTensors[i];
            w.AddTensor(name, type, dims, TensorData(i, ByteSize(type, dims)));
        }
        return w;
    }

    public static byte[] SyntheticModel(uint? alignment = null) => Bytes(SyntheticModelWriter(alignment));

    public static byte[] Bytes(GgufWriter writer)
    {
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        return stream.ToArray();
    }

    public static void PatchU32(byte[] file, long offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan((int)offset), value);

    public static void PatchU64(byte[] file, long offset, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan((int)offset), value);

    /// <summary>Parses <paramref name="file"/> expecting failure; returns the exception for further checks.</summary>
    public static GgufFormatException ParseFails(byte[] file) => Xunit.Assert.Throws<GgufFormatException>(() => GgufReader.Parse(file));
}

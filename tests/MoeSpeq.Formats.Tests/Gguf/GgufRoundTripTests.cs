using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;
using Xunit;
using static MoeSpeq.Formats.Tests.Gguf.GgufTestFiles;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary>What <see cref="GgufWriter"/> writes, <see cref="GgufReader"/> reads back unchanged, in v2 and v3 and at any alignment.</summary>
public class GgufRoundTripTests
{
    static void AssertArraysEqual(GgufArray expected, GgufArray actual)
    {
        Assert.Equal(expected.ElementType, actual.ElementType);
        Assert.Equal(expected.Items.GetType(), actual.Items.GetType());
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var (e, a) = (expected.Items.GetValue(i)!, actual.Items.GetValue(i)!);
            if (e is GgufArray nested) AssertArraysEqual(nested, (GgufArray)a);
            else Assert.Equal(e, a);
        }
    }

    static void AssertSyntheticModel(GgufHeader header, byte[] file, uint alignment)
    {
        Assert.Equal(alignment, header.Alignment);
        Assert.Equal(0, header.DataOffset % alignment);
        Assert.Equal("mixtral", header.GetString("general.architecture"));
        foreach (var (key, value) in Scalars)
        {
            Assert.Equal(value.Type, header.Find(key)!.Type);
            Assert.Equal(value.Value, header.Find(key)!.Value);
        }
        foreach (var (key, array) in Arrays) AssertArraysEqual(array, header.GetArray(key)!);
        Assert.Equal(header.Metadata.Keys.Order(), header.MetadataKeys.Order());
        Assert.Equal("general.architecture", header.MetadataKeys[0]);

        Assert.Equal(ModelTensors.Select(t => t.Name), header.Tensors.Select(t => t.Name));
        for (int i = 0; i < ModelTensors.Length; i++)
        {
            var (name, type, dims) = ModelTensors[i];
            var t = header.Tensors[i];
            Assert.Equal(type, t.Type);
            Assert.Equal(dims, t.Dimensions);
            Assert.Equal(ByteSize(type, dims), t.ByteSize);
            Assert.Equal(0, t.DataOffset % alignment);
            Assert.Equal(TensorData(i, t.ByteSize), file.AsSpan((int)(header.DataOffset + t.DataOffset), (int)t.ByteSize).ToArray());
        }
    }

    [Fact]
    public void EveryValueTypeAndNestedArraysRoundTrip()
    {
        var file = SyntheticModel();
        AssertSyntheticModel(GgufReader.Parse(file), file, GgufHeader.DefaultAlignment);
    }

    [Fact]
    public void ScalarsReadAsIntegersAndDoubles()
    {
        var header = GgufReader.Parse(SyntheticModel());
        Assert.Equal(250, header.GetInt("test.u8"));
        Assert.Equal(-7, header.GetInt("test.i8"));
        Assert.Equal(4_000_000_000L, header.GetInt("test.u32"));
        Assert.Null(header.GetInt("test.u64")); // above long.MaxValue
        Assert.Equal(long.MinValue + 3, header.GetInt("test.i64"));
        Assert.Equal(Math.PI, header.GetDouble("test.f64"));
        Assert.Equal(-1.25e-3f, (float)header.GetDouble("test.f32")!.Value);
        Assert.True(header.GetBool("test.bool"));
        Assert.Null(header.GetString("test.u8"));
        Assert.Null(header.Find("absent"));
        var e = Assert.Throws<GgufFormatException>(() => header.RequireInt("absent.key"));
        Assert.Contains("absent.key", e.Message);
    }

    [Fact]
    public void Version2FilesReadLikeVersion3()
    {
        var file = SyntheticModel();
        PatchU32(file, 4, 2);
        var header = GgufReader.Parse(file);
        Assert.Equal(2u, header.Version);
        AssertSyntheticModel(header, file, GgufHeader.DefaultAlignment);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(8u)]
    [InlineData(64u)]
    [InlineData(4096u)]
    public void AlignmentOtherThan32(uint alignment)
    {
        var file = SyntheticModel(alignment);
        AssertSyntheticModel(GgufReader.Parse(file), file, alignment);
    }

    [Fact]
    public void ArraysNestedToTheLimitRoundTrip()
    {
        var array = new GgufArray(GgufValueType.String, new[] { "leaf" });
        for (int i = 1; i < GgufReader.MaxArrayNesting; i++) array = new GgufArray(GgufValueType.Array, new[] { array });
        var header = GgufReader.Parse(Bytes(new GgufWriter().Set("deep", new GgufValue(GgufValueType.Array, array))));
        AssertArraysEqual(array, header.GetArray("deep")!);
    }

    [Fact]
    public void AFileWithoutTensorsOrMetadataIsValid()
    {
        var header = GgufReader.Parse(Bytes(new GgufWriter()));
        Assert.Empty(header.Tensors);
        Assert.Empty(header.Metadata);
    }

    [Fact]
    public void WriterRejectsValuesThatDoNotMatchTheirType()
    {
        var w = new GgufWriter();
        Assert.Throws<ArgumentException>(() => w.Set("k", new GgufValue(GgufValueType.UInt32, 5)));
        Assert.Throws<ArgumentException>(() => w.SetArray("k", GgufValueType.Int32, new uint[] { 1 }));
        Assert.Throws<ArgumentException>(() => w.SetArray("k", GgufValueType.Array, new[] { 1 }));
        Assert.Throws<ArgumentException>(() => w.SetArray("k", GgufValueType.String, new string[] { null! }));
        Assert.Throws<ArgumentException>(() => w.Set("general.alignment", 48u));
        Assert.Equal(GgufHeader.DefaultAlignment, w.Alignment);
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.Q8_0, [33], new byte[34]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.F32, [2, -1], new byte[8]));
        w.AddTensor("t", GgmlType.F32, [2], new byte[8]); // the rejected declarations did not reserve the name
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.F32, [2], new byte[8]));
        Assert.Empty(GgufReader.Parse(Bytes(w)).Metadata);
    }

    [Fact]
    public void WriterChecksTheBytesATensorCallbackDelivers()
    {
        var w = new GgufWriter().AddTensor("t", GgmlType.F32, [2], new byte[7]);
        Assert.Throws<InvalidOperationException>(() => Bytes(w));
    }
}

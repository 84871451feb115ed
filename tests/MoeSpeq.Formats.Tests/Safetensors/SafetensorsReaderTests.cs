using System.Buffers.Binary;
using System.Text;
using MoeSpeq.Formats.Safetensors;
using MoeSpeq.Tensors;
using Xunit;
using static MoeSpeq.Formats.Tests.Safetensors.SafetensorsTestFiles;

namespace MoeSpeq.Formats.Tests.Safetensors;

/// <summary>
/// The writer's files read back as written; and one test per class of bad input, each answered with a
/// <see cref="SafetensorsFormatException"/> that names the offending field and where it was read.
/// </summary>
public class SafetensorsReaderTests
{
    const string Entry = "\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";

    static void AssertNames(SafetensorsFormatException e, string field, string? problem = null)
    {
        Assert.Contains(field, e.Field);
        Assert.Contains(field, e.Message);
        if (problem is not null) Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void WrittenFilesReadBackWithTheirTensorsAndMetadata()
    {
        var file = Synthetic();
        var h = SafetensorsReader.Parse(file);
        Assert.Equal(0, h.DataOffset % 8);
        Assert.Equal("pt", h.Metadata["format"]);
        Assert.Equal(7, h.Tensors.Count);
        var q = h.FindTensor("model.layers.0.self_attn.q_proj.weight")!;
        Assert.Equal("BF16", q.Dtype);
        Assert.Equal(GgmlType.BF16, q.Type);
        Assert.Equal([8, 8], q.Shape);
        Assert.Equal(128, q.ByteSize);
        Assert.Equal(GgmlType.F16, h.FindTensor("model.embed_tokens.weight")!.Type);
        Assert.Empty(h.FindTensor("scale")!.Shape);
        Assert.Equal(0, h.FindTensor("empty")!.ByteSize);
        Assert.Equal(file.Length - h.DataOffset, h.Tensors.Sum(t => t.ByteSize));
    }

    [Fact]
    public void OpenedFilesAreMappedAndTheirBytesAreTheWrittenOnes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"moespeq-st-{Guid.NewGuid():N}.safetensors");
        var data = Enumerable.Range(0, 24).Select(i => (byte)i).ToArray();
        new SafetensorsWriter().AddTensor("a", "F32", [2, 3], data).AddTensor("b", "U8", [2], new byte[] { 9, 8 }).WriteTo(path);
        try
        {
            using var file = SafetensorsFile.Open(path);
            Assert.Equal(data, file.TensorBytes(file.Header.FindTensor("a")!).ToArray());
            Assert.Equal(new byte[] { 9, 8 }, file.TensorBytes(file.Header.FindTensor("b")!).ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ErrorsFromOpenedFilesNameTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"moespeq-st-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, Raw("{" + Entry + "}", 20));
        try
        {
            var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
            Assert.Equal(path, e.FilePath);
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void UnsupportedDtypesAreATypedErrorNamingTheTensor()
    {
        var h = SafetensorsReader.Parse(Synthetic());
        var e = Assert.Throws<SafetensorsFormatException>(() => h.FindTensor("position_ids")!.Type);
        AssertNames(e, "position_ids", "I64");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void FilesShorterThanTheLength(int length)
    {
        var e = ParseFails(new byte[length]);
        AssertNames(e, "header length", "truncated");
    }

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void AbsurdHeaderLengths(ulong n)
    {
        var file = Synthetic();
        BinaryPrimitives.WriteUInt64LittleEndian(file, n);
        AssertNames(ParseFails(file), "header length", "absurd");
    }

    [Fact]
    public void AHeaderLongerThanTheFile()
    {
        var file = Synthetic();
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)file.Length);
        AssertNames(ParseFails(file), "header length", "truncated");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData(" {}")]
    [InlineData("\"t\"")]
    public void HeadersThatAreNotAnObject(string json) => AssertNames(ParseFails(Raw(json, 0)), "header", "'{'");

    [Theory]
    [InlineData("{" + Entry)]
    [InlineData("{" + Entry + ",}")]
    [InlineData("{" + Entry + "}{}")]
    [InlineData("{" + Entry + "} x")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]")]
    [InlineData("{\"t\":{\"dtype\":F32}}")]
    [InlineData("{'t':1}")]
    public void InvalidJson(string json)
    {
        var e = ParseFails(Raw(json, 24));
        Assert.True(e.Offset >= 8 && e.Offset <= 8 + Encoding.UTF8.GetByteCount(json), $"offset {e.Offset}");
    }

    [Fact]
    public void InvalidUtf8InANameIsAFormatError()
    {
        var json = Encoding.UTF8.GetBytes("{\"t?\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        json[3] = 0xFF;
        ParseFails(Raw(json, 4));
    }

    [Fact]
    public void DuplicateTensorNames() =>
        AssertNames(ParseFails(Raw("{" + Entry + "," + Entry.Replace("[0,24]", "[24,48]") + "}", 48)), "t", "duplicate");

    [Theory]
    [InlineData("{\"t\":{\"shape\":[2,3],\"data_offsets\":[0,24]}}", "dtype")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}}", "shape")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3]}}", "data_offsets")]
    public void MissingKeys(string json, string key) => AssertNames(ParseFails(Raw(json, 24)), "t: " + key, "missing");

    [Theory]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "t: dtype", "twice")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"extra\":1}}", "t: extra", "unknown key")]
    [InlineData("{\"t\":{\"dtype\":\"Q4\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "t: dtype", "unknown or unsupported dtype")]
    [InlineData("{\"t\":{\"dtype\":7,\"shape\":[2,3],\"data_offsets\":[0,24]}}", "t: dtype", "expected a string")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", "t: shape", "non-negative")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3.5],\"data_offsets\":[0,24]}}", "t: shape", "non-negative")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", "t: shape", "more than 8")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,24]}}", "t: shape", "overflows")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}", "t: shape", "overflows")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,24]}}", "t: shape", "expected an array")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0]}}", "t: data_offsets", "exactly two")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24,48]}}", "t: data_offsets", "exactly two")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", "t: data_offsets", "ends before")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,18446744073709551615]}}", "t: data_offsets", "non-negative")]
    [InlineData("{\"t\":[]}", "t", "expected an object")]
    [InlineData("{\"\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "tensor name", "empty")]
    [InlineData("{\"__metadata__\":{\"a\":1}," + Entry + "}", "__metadata__.a", "expected a string")]
    [InlineData("{\"__metadata__\":{\"a\":\"x\",\"a\":\"y\"}," + Entry + "}", "__metadata__.a", "duplicate")]
    [InlineData("{\"__metadata__\":{},\"__metadata__\":{}," + Entry + "}", "__metadata__", "twice")]
    public void MalformedEntries(string json, string field, string problem) => AssertNames(ParseFails(Raw(json, 24)), field, problem);

    [Fact]
    public void AbsurdlyLongNames() =>
        AssertNames(ParseFails(Raw("{\"" + new string('n', SafetensorsReader.MaxNameBytes + 1) + "\":{}}", 0)), "tensor name", "limit");

    [Theory]
    [InlineData(20, "needs 24")]
    [InlineData(28, "needs 24")]
    public void OffsetsThatDisagreeWithShapeAndDtype(int end, string problem) =>
        AssertNames(ParseFails(Raw("{" + Entry.Replace("[0,24]", $"[0,{end}]") + "}", end)), "t: data_offsets", problem);

    [Fact]
    public void OffsetsPastTheEndOfTheFile() =>
        AssertNames(ParseFails(Raw("{" + Entry + "}", 20)), "t: data_offsets", "past the end");

    [Fact]
    public void OverlappingTensors() =>
        AssertNames(ParseFails(Raw("{" + Entry + "," + Entry.Replace("\"t\"", "\"u\"").Replace("[0,24]", "[12,36]") + "}", 36)), "u: data_offsets", "overlaps tensor t");

    [Fact]
    public void HolesBetweenTensors() =>
        AssertNames(ParseFails(Raw("{" + Entry + "," + Entry.Replace("\"t\"", "\"u\"").Replace("[0,24]", "[32,56]") + "}", 56)), "u: data_offsets", "holes");

    [Fact]
    public void BytesAfterTheLastTensor() => AssertNames(ParseFails(Raw("{" + Entry + "}", 30)), "data", "belong to none");

    [Fact]
    public void TensorsMayBeListedInAnyOrderAndPaddedWithSpaces()
    {
        var h = SafetensorsReader.Parse(Raw("{" + Entry.Replace("\"t\"", "\"u\"").Replace("[0,24]", "[24,48]") + "," + Entry + "}   ", 48));
        Assert.Equal(["t", "u"], h.Tensors.Select(t => t.Name));
    }
}

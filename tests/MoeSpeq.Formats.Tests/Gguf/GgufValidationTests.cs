using System.Text;
using MoeSpeq.Formats.Gguf;
using Xunit;
using static MoeSpeq.Formats.Tests.Gguf.GgufTestFiles;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary>
/// One test per class of bad input: a valid synthetic model is patched or truncated, and the reader must answer
/// with a <see cref="GgufFormatException"/> whose message names the offending field.
/// </summary>
public class GgufValidationTests
{
    static readonly byte[] Model = SyntheticModel();
    static readonly GgufLayout Layout = GgufLayout.Of(Model);

    static byte[] Copy() => (byte[])Model.Clone();

    static GgufLayout.TensorFields Tensor(string name) => Layout.Tensors[name];

    static void AssertNames(GgufFormatException e, string field, string? problem = null)
    {
        Assert.Contains(field, e.Field);
        Assert.Contains(field, e.Message);
        if (problem is not null) Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void TheUnpatchedModelIsValid()
    {
        var header = GgufReader.Parse(Model);
        Assert.Equal(ModelTensors.Length, header.Tensors.Count);
    }

    [Fact]
    public void BadMagic()
    {
        var file = Copy();
        file[0] = (byte)'X';
        var e = ParseFails(file);
        AssertNames(e, "magic");
        Assert.Equal(0, e.Offset);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(0x03000000u)]
    [InlineData(uint.MaxValue)]
    public void BadVersion(uint version)
    {
        var file = Copy();
        PatchU32(file, 4, version);
        var e = ParseFails(file);
        AssertNames(e, "version", version.ToString());
        Assert.Equal(4, e.Offset);
    }

    [Fact]
    public void EveryTruncationFailsWithAFormatException()
    {
        for (int length = 0; length < Model.Length; length++)
            Assert.Throws<GgufFormatException>(() => GgufReader.Parse(Model.AsSpan(0, length)));
    }

    [Fact]
    public void TruncatedHeader()
    {
        AssertNames(ParseFails(Model[..12]), "tensor_count", "truncated");
        // The counts are checked against what remains before anything is read by them.
        AssertNames(ParseFails(Model[..30]), "tensor_count", "cannot fit");
    }

    [Fact]
    public void TruncatedMetadata()
    {
        int valueAt = Layout.ValueAt["test.arr.nested3"];
        AssertNames(ParseFails(Model[..(valueAt + 20)]), "test.arr.nested3", "truncated");
    }

    [Fact]
    public void TruncatedTensorInfos()
    {
        var t = Tensor("blk.0.ffn_down_exps.weight");
        AssertNames(ParseFails(Model[..(t.TypeAt + 2)]), "blk.0.ffn_down_exps.weight: type", "truncated");
    }

    [Fact]
    public void TruncatedData()
    {
        var e = ParseFails(Model[..^1]);
        AssertNames(e, "output_norm.weight: data", "truncated");
    }

    [Fact]
    public void DataSectionMissing()
    {
        var e = ParseFails(Model[..Layout.HeaderEnd]);
        Assert.Contains("data", e.Field);
    }

    [Fact]
    public void TensorDataOutOfRange()
    {
        var file = Copy();
        PatchU64(file, Tensor("blk.0.attn_q.weight").OffsetAt, 1UL << 40);
        AssertNames(ParseFails(file), "blk.0.attn_q.weight: data", "past the end");
    }

    [Fact]
    public void TensorDataEndOverflowingLong()
    {
        var file = Copy();
        // Aligned, within long, but offset + size overflows: the range check must not wrap around.
        PatchU64(file, Tensor("blk.0.attn_q.weight").OffsetAt, (ulong)(long.MaxValue - 31));
        AssertNames(ParseFails(file), "blk.0.attn_q.weight: data");
    }

    [Fact]
    public void TensorOffsetAbsurd()
    {
        var file = Copy();
        PatchU64(file, Tensor("blk.0.attn_q.weight").OffsetAt, ulong.MaxValue - 31);
        AssertNames(ParseFails(file), "blk.0.attn_q.weight: offset", "absurd");
    }

    [Fact]
    public void TensorOffsetMisaligned()
    {
        var file = Copy();
        PatchU64(file, Tensor("blk.0.attn_q.weight").OffsetAt, 33);
        AssertNames(ParseFails(file), "blk.0.attn_q.weight: offset", "alignment");
    }

    [Fact]
    public void TensorDataOverlapping()
    {
        var file = Copy();
        var header = GgufReader.Parse(Model);
        long embdOffset = header.FindTensor("token_embd.weight")!.DataOffset;
        PatchU64(file, Tensor("blk.0.attn_q.weight").OffsetAt, (ulong)embdOffset);
        var e = ParseFails(file);
        Assert.Contains("overlaps", e.Message);
        Assert.Contains("token_embd.weight", e.Message);
        Assert.Contains("blk.0.attn_q.weight", e.Message);
    }

    [Theory]
    [InlineData(4u)] // Q4_2, retired upstream
    [InlineData(31u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public void UnknownDtype(uint typeId)
    {
        var file = Copy();
        PatchU32(file, Tensor("blk.0.ffn_gate_exps.weight").TypeAt, typeId);
        AssertNames(ParseFails(file), "blk.0.ffn_gate_exps.weight: type", typeId.ToString());
    }

    [Fact]
    public void UnknownMetadataValueType()
    {
        var file = Copy();
        PatchU32(file, Layout.ValueAt["test.u32"] - 4, 13);
        AssertNames(ParseFails(file), "test.u32", "unknown value type 13");
    }

    [Fact]
    public void UnknownArrayElementType()
    {
        var file = Copy();
        PatchU32(file, Layout.ValueAt["test.arr.u32"], 99);
        AssertNames(ParseFails(file), "test.arr.u32", "unknown value type 99");
    }

    [Theory]
    [InlineData(8, "tensor_count")]
    [InlineData(16, "metadata_kv_count")]
    public void AbsurdHeaderCounts(int offset, string field)
    {
        foreach (ulong value in new[] { ulong.MaxValue, 1UL << 63, (ulong)int.MaxValue + 1, (ulong)Model.Length })
        {
            var file = Copy();
            PatchU64(file, offset, value);
            AssertNames(ParseFails(file), field, "cannot fit");
        }
    }

    [Fact]
    public void AbsurdArrayLength()
    {
        foreach (ulong value in new[] { ulong.MaxValue, 1UL << 62, (ulong)Array.MaxLength + 1 })
        {
            var file = Copy();
            PatchU64(file, Layout.ValueAt["test.arr.u8"] + 4, value);
            AssertNames(ParseFails(file), "test.arr.u8: array length");
        }
    }

    [Fact]
    public void AbsurdStringLength()
    {
        var file = Copy();
        PatchU64(file, Layout.ValueAt["test.string"], ulong.MaxValue);
        AssertNames(ParseFails(file), "test.string", "string of");
    }

    [Fact]
    public void AbsurdKeyLength()
    {
        var file = Copy();
        PatchU64(file, Layout.KeyAt["test.u8"], 1UL << 50);
        AssertNames(ParseFails(file), "metadata key #", "string of");
    }

    [Fact]
    public void OverlongTensorName()
    {
        var w = new GgufWriter().AddTensor(new string('n', GgufReader.MaxTensorNameBytes + 1), ModelTensors[0].Type, [1], new byte[4]);
        AssertNames(ParseFails(Bytes(w)), "tensor #0 name", "limit");
    }

    [Fact]
    public void EmptyKey()
    {
        var file = Copy();
        PatchU64(file, Layout.KeyAt["general.architecture"], 0);
        AssertNames(ParseFails(file), "metadata key #0");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(uint.MaxValue)]
    public void AbsurdDimensionCount(uint nDims)
    {
        var file = Copy();
        PatchU32(file, Tensor("token_embd.weight").NDimsAt, nDims);
        AssertNames(ParseFails(file), "token_embd.weight: n_dims");
    }

    [Fact]
    public void AbsurdDimension()
    {
        var file = Copy();
        PatchU64(file, Tensor("token_embd.weight").DimAt[1], ulong.MaxValue);
        AssertNames(ParseFails(file), "token_embd.weight: ne[1]", "absurd");
    }

    [Fact]
    public void ElementCountOverflow()
    {
        var file = Copy();
        var t = Tensor("blk.0.ffn_gate_exps.weight");
        PatchU64(file, t.DimAt[1], 1UL << 40);
        PatchU64(file, t.DimAt[2], 1UL << 40);
        AssertNames(ParseFails(file), "blk.0.ffn_gate_exps.weight: ne[2]", "overflows");
    }

    [Fact]
    public void AZeroDimensionDoesNotExcuseHugeNeighbours()
    {
        // ne = [0, 2^62] holds no elements and its extent fits a long: accepted, with no bytes.
        var file = Copy();
        PatchU64(file, Tensor("blk.0.empty").DimAt[1], 1UL << 62);
        Assert.Equal(0, GgufReader.Parse(file).FindTensor("blk.0.empty")!.ByteSize);

        // ne = [0, 2^40, 2^40] also holds no elements, but per-row or per-expert views would overflow.
        file = Copy();
        var t = Tensor("blk.0.ffn_gate_exps.weight");
        PatchU64(file, t.DimAt[0], 0);
        PatchU64(file, t.DimAt[1], 1UL << 40);
        PatchU64(file, t.DimAt[2], 1UL << 40);
        AssertNames(ParseFails(file), "blk.0.ffn_gate_exps.weight: ne[2]", "overflows");
    }

    [Fact]
    public void ByteSizeOverflow()
    {
        var file = Copy();
        var t = Tensor("token_embd.weight"); // F32: 2^31 × 2^31 elements fit a long, ×4 bytes do not
        PatchU64(file, t.DimAt[0], 1UL << 31);
        PatchU64(file, t.DimAt[1], 1UL << 31);
        AssertNames(ParseFails(file), "token_embd.weight: shape", "overflows");
    }

    [Fact]
    public void RowNotAWholeNumberOfBlocks()
    {
        var file = Copy();
        PatchU64(file, Tensor("blk.0.ffn_gate_exps.weight").DimAt[0], 33);
        AssertNames(ParseFails(file), "blk.0.ffn_gate_exps.weight: ne[0]", "block size");
    }

    [Fact]
    public void DuplicateMetadataKey()
    {
        var file = Copy();
        // test.u8 and test.i8 have keys of the same length: renaming one to the other makes a duplicate.
        int at = Layout.KeyAt["test.i8"] + 8;
        Encoding.ASCII.GetBytes("test.u8").CopyTo(file, at);
        var e = ParseFails(file);
        AssertNames(e, "test.u8", "duplicate metadata key");
        Assert.Equal(Layout.KeyAt["test.i8"], e.Offset);
    }

    [Fact]
    public void DuplicateTensorName()
    {
        var file = Copy();
        var at = Tensor("blk.0.ffn_down_exps.weight").NameAt + 8;
        Encoding.ASCII.GetBytes("blk.0.ffn_gate_exps.weight").CopyTo(file, at);
        AssertNames(ParseFails(file), "blk.0.ffn_gate_exps.weight", "duplicate tensor name");
    }

    [Fact]
    public void BoolThatIsNeitherZeroNorOne()
    {
        var file = Copy();
        file[Layout.ValueAt["test.bool"]] = 2;
        AssertNames(ParseFails(file), "test.bool", "bool byte 2");
    }

    [Fact]
    public void ArraysNestedTooDeep()
    {
        var array = new GgufArray(GgufValueType.Int32, new[] { 1 });
        for (int i = 0; i < GgufReader.MaxArrayNesting; i++) array = new GgufArray(GgufValueType.Array, new[] { array });
        var e = ParseFails(Bytes(new GgufWriter().Set("deep", new GgufValue(GgufValueType.Array, array))));
        AssertNames(e, "deep", "nested deeper");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(48u)]
    [InlineData(0x80000001u)]
    public void AlignmentThatIsNotAPowerOfTwo(uint alignment)
    {
        var file = SyntheticModel(alignment: 64);
        int at = GgufLayout.Of(file).ValueAt["general.alignment"];
        PatchU32(file, at, alignment);
        var e = ParseFails(file);
        AssertNames(e, "general.alignment", "power-of-two");
        Assert.Equal(at, e.Offset);
    }

    [Fact]
    public void AlignmentOfTheWrongType()
    {
        // The writer refuses an int32 alignment, so write it under a key of the same length and rename it.
        var file = Bytes(new GgufWriter().Set("general.alignmenX", 64));
        int at = GgufLayout.Of(file).KeyAt["general.alignmenX"];
        Encoding.ASCII.GetBytes("general.alignment").CopyTo(file, at + 8);
        var e = ParseFails(file);
        AssertNames(e, "general.alignment", "Int32");
    }

    [Fact]
    public void LongFieldNamesAreShortenedInMessages()
    {
        var key = new string('k', 10_000);
        var e = new GgufFormatException(key, 0, "problem");
        Assert.Equal(key, e.Field);
        Assert.True(e.Message.Length < 400, e.Message);
    }
}

using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;
using MoeSpeq.TestSupport;
using Xunit;
using static MoeSpeq.Formats.Tests.Gguf.GgufTestFiles;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary><see cref="GgufFile"/>: opening real and broken files from disk, and the views it gives of mapped tensor data.</summary>
public sealed unsafe class GgufFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Write(string name, ReadOnlySpan<byte> bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    string WriteTruncatedCopy(string source, long length)
    {
        var path = Path.Combine(_dir, "truncated-" + Path.GetFileName(source));
        using var input = File.OpenRead(source);
        using var output = File.Create(path);
        var buffer = new byte[length];
        input.ReadExactly(buffer);
        output.Write(buffer);
        return path;
    }

    [Fact]
    public void TheBundledVocabularyOpens()
    {
        using var file = GgufFile.Open(TestPaths.Data("vocab", "ggml-vocab-moe-fixture.gguf"));
        Assert.Equal(3u, file.Header.Version);
        Assert.NotNull(file.Header.GetArray("tokenizer.ggml.tokens"));
    }

    [Fact]
    public void TruncatedCopiesOfTheBundledVocabularyFail()
    {
        var source = TestPaths.Data("vocab", "ggml-vocab-moe-fixture.gguf");
        long length = new FileInfo(source).Length;
        // Not length - 1: the file ends in padding to the alignment, which the reader does not require.
        foreach (long keep in new[] { 24, 100, length / 2 })
        {
            var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(WriteTruncatedCopy(source, keep)).Dispose());
            Assert.Contains("truncated", e.Message);
        }
    }

    [Fact]
    public void ATruncatedCopyOfARealModelFails()
    {
        var source = TestPaths.Shared("golden", "mixtral-moe-q8_0.gguf");
        long length = new FileInfo(source).Length;
        foreach (long keep in new[] { 64 * 1024, length / 2, length - 1 })
        {
            var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(WriteTruncatedCopy(source, keep)).Dispose());
            Assert.Contains("truncated", e.Message);
        }
    }

    [Fact]
    public void AnEmptyFileFails()
    {
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(Write("empty.gguf", [])));
        Assert.Equal("header", e.Field);
        Assert.Contains("0 bytes", e.Message);
    }

    [Fact]
    public void AMissingFileIsNotFound() =>
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(Path.Combine(_dir, "absent.gguf")));

    [Fact]
    public void TensorBytesAreTheMappedFileNotACopy()
    {
        var bytes = SyntheticModel();
        using var file = GgufFile.Open(Write("model.gguf", bytes));
        for (int i = 0; i < ModelTensors.Length; i++)
        {
            var t = file.Header.FindTensor(ModelTensors[i].Name)!;
            var span = file.TensorBytes(t);
            fixed (byte* p = span)
                Assert.True(p == file.BasePointer + file.Header.DataOffset + t.DataOffset || t.ByteSize == 0);
            Assert.Equal(TensorData(i, t.ByteSize), span.ToArray());
        }
    }

    [Fact]
    public void ExpertSlicesTileTheStackedTensor()
    {
        using var file = GgufFile.Open(Write("model.gguf", SyntheticModel()));
        foreach (var name in new[] { "blk.0.ffn_gate_exps.weight", "blk.0.ffn_down_exps.weight", "blk.0.ffn_up_exps.weight" })
        {
            var t = file.Header.FindTensor(name)!;
            byte* start = file.TensorPointer(t);
            for (int e = 0; e < t.Dim(2); e++)
            {
                var m = file.Matrix(t, e);
                Assert.Equal(t.Dim(0), m.Cols);
                Assert.Equal(t.Dim(1), m.Rows);
                Assert.True(m.Data == start + e * m.ByteLength);
            }
            Assert.Equal(t.ByteSize, t.Dim(2) * file.Matrix(t, 0).ByteLength);
            Assert.Throws<ArgumentOutOfRangeException>(() => file.Matrix(t, -1));
            Assert.Throws<ArgumentOutOfRangeException>(() => file.Matrix(t, (int)t.Dim(2)));
            Assert.Throws<ArgumentOutOfRangeException>(() => file.Matrix(t, int.MinValue));
        }
        Assert.Throws<InvalidOperationException>(() => file.Matrix(file.Header.FindTensor("token_embd.weight")!, 0));
    }

    [Fact]
    public void WholeTensorMatrixViews()
    {
        using var file = GgufFile.Open(Write("model.gguf", SyntheticModel()));
        var stacked = file.Matrix(file.Header.FindTensor("blk.0.ffn_gate_exps.weight")!);
        Assert.Equal((12, 64), (stacked.Rows, stacked.Cols));
        var vector = file.Matrix(file.Header.FindTensor("output_norm.weight")!);
        Assert.Equal((1, 8), (vector.Rows, vector.Cols));
        var empty = file.Matrix(file.Header.FindTensor("blk.0.empty")!);
        Assert.Equal((0, 0), (empty.Rows, empty.Cols));
    }

    [Fact]
    public void TensorsThatDoNotLieInsideTheFileAreRefused()
    {
        using var file = GgufFile.Open(Write("model.gguf", SyntheticModel()));
        var real = file.Header.FindTensor("blk.0.ffn_gate_exps.weight")!;
        Assert.Throws<ArgumentException>(() => file.TensorPointer(real with { DataOffset = file.Length }));
        Assert.Throws<ArgumentException>(() => file.TensorBytes(real with { ByteSize = file.Length }));
        Assert.Throws<ArgumentException>(() => file.Matrix(real with { ByteSize = real.ByteSize - 1 }, 3));
    }

    [Fact]
    public void ADisposedFileRefusesPointers()
    {
        var file = GgufFile.Open(Write("model.gguf", SyntheticModel()));
        var t = file.Header.Tensors[0];
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.TensorPointer(t));
    }

    [Fact]
    public void RealExpertTensorsSliceWithinTheirBytes()
    {
        using var file = GgufFile.Open(TestPaths.Shared("golden", "mixtral-moe-q8_0.gguf"));
        var stacked = file.Header.Tensors.Where(t => t.Name.Contains("_exps")).ToArray();
        Assert.NotEmpty(stacked);
        foreach (var t in stacked)
        {
            var last = file.Matrix(t, (int)t.Dim(2) - 1);
            Assert.True(last.Data + last.ByteLength == file.TensorPointer(t) + t.ByteSize);
            Assert.Equal(GgmlTypeInfo.RowBytes(t.Type, (int)t.Dim(0)), last.RowBytes);
        }
    }
}

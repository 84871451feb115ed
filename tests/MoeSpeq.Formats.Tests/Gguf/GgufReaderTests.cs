using MoeSpeq.Formats.Gguf;
using MoeSpeq.TestSupport;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Formats.Tests;

public class GgufReaderTests
{
    [Fact]
    public void GoldenModelsParseWithTheirDeclaredTensors()
    {
        var dir = TestPaths.Shared("golden");
        foreach (var path in Directory.GetFiles(dir, "*.gguf"))
        {
            using var file = GgufFile.Open(path);
            Assert.Equal(3u, file.Header.Version);
            Assert.NotEmpty(file.Header.Tensors);
            Assert.NotNull(file.Header.GetString("general.architecture"));
        }
    }

    [Fact]
    public void WriterOutputReadsBackEqual()
    {
        var path = Path.GetTempFileName();
        try
        {
            var data = new float[] { 1, 2, 3, 4, 5, 6 };
            new GgufWriter()
                .Set("general.architecture", "llama")
                .Set("llama.block_count", 2u)
                .Set("x.f", 1.5f)
                .SetArray("x.tokens", GgufValueType.String, new[] { "a", "bé", "" })
                .SetArray("x.nested", GgufValueType.Array, new[] { new GgufArray(GgufValueType.Int32, new[] { 1, 2 }) })
                .AddTensor("t", GgmlType.F32, [3, 2], System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()).ToArray())
                .WriteTo(path);
            using var file = GgufFile.Open(path);
            Assert.Equal("llama", file.Header.GetString("general.architecture"));
            Assert.Equal(2, file.Header.GetInt("llama.block_count"));
            Assert.Equal(1.5, file.Header.GetDouble("x.f"));
            Assert.Equal(new[] { "a", "bé", "" }, (string[])file.Header.GetArray("x.tokens")!.Items);
            var nested = (GgufArray[])file.Header.GetArray("x.nested")!.Items;
            Assert.Equal(new[] { 1, 2 }, (int[])nested[0].Items);
            var t = file.Header.FindTensor("t")!;
            Assert.Equal(new long[] { 3, 2 }, t.Dimensions);
            Assert.Equal(data, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(file.TensorBytes(t)).ToArray());
        }
        finally { File.Delete(path); }
    }
}

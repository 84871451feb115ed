using System.Runtime.InteropServices;
using System.Security.Cryptography;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>Bit-exactness against outputs of ggml's own reference quantizers (see tests/data/ggml-quants/README.md).</summary>
public class GgmlGoldenTests
{
    static float[] Input() => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(TestPaths.Data("ggml-quants", "input.f32"))).ToArray();

    [Theory]
    [MemberData(nameof(TestData.QuantTypes), MemberType = typeof(TestData))]
    public void QuantizeMatchesGgmlByteForByte(GgmlType type)
    {
        var x = Input();
        var expected = File.ReadAllBytes(TestPaths.Data("ggml-quants", type.ToString().ToLowerInvariant().Replace("_k", "_K") + ".bin"));
        var actual = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        Quantize.Row(type, x, actual);
        int block = GgmlTypeInfo.BlockBytes(type);
        for (int i = 0; i < actual.Length; i++)
        {
            if (actual[i] != expected[i])
                Assert.Fail($"{type}: byte {i} (block {i / block}, offset {i % block}) is 0x{actual[i]:x2}, ggml wrote 0x{expected[i]:x2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestData.StoredQuantTypes), MemberType = typeof(TestData))]
    public void DequantizeMatchesGgmlBitForBit(GgmlType type)
    {
        string name = type.ToString().ToLowerInvariant().Replace("_k", "_K");
        var hashes = File.ReadAllLines(TestPaths.Data("ggml-quants", "dequantized.sha256"))
            .Select(l => l.Split(' ')).ToDictionary(p => p[1], p => p[0]);
        var q = File.ReadAllBytes(TestPaths.Data("ggml-quants", name + ".bin"));
        var y = new float[4096];
        Dequantize.Row(type, q, y);
        Assert.Equal(hashes[name], Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(y.AsSpan()))));
    }
}

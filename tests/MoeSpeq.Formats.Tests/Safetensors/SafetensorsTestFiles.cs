using System.Buffers.Binary;
using System.Text;
using MoeSpeq.Formats.Safetensors;

namespace MoeSpeq.Formats.Tests.Safetensors;

/// <summary>Safetensors files built in memory: by the writer (valid ones) or from raw JSON (anything).</summary>
internal static class SafetensorsTestFiles
{
    /// <summary>A small valid file: F32, F16, BF16 and I64 tensors, a scalar, an empty tensor and metadata.</summary>
    public static byte[] Synthetic()
    {
        var rng = new Random(7);
        byte[] Random(int n)
        {
            var b = new byte[n];
            rng.NextBytes(b);
            return b;
        }
        var w = new SafetensorsWriter()
            .SetMetadata("format", "pt")
            .AddTensor("model.embed_tokens.weight", "F16", [16, 8], Random(16 * 8 * 2))
            .AddTensor("model.layers.0.self_attn.q_proj.weight", "BF16", [8, 8], Random(8 * 8 * 2))
            .AddTensor("model.layers.0.input_layernorm.weight", "F32", [8], Random(8 * 4))
            .AddTensor("model.layers.0.mlp.experts.0.gate_proj.weight", "F32", [4, 8], Random(4 * 8 * 4))
            .AddTensor("position_ids", "I64", [1, 3], Random(3 * 8))
            .AddTensor("scale", "F32", [], Random(4))
            .AddTensor("empty", "F16", [0, 5], Array.Empty<byte>());
        var stream = new MemoryStream();
        w.WriteTo(stream);
        return stream.ToArray();
    }

    /// <summary>The 8-byte length, <paramref name="json"/> as UTF-8, then <paramref name="dataBytes"/> zero bytes.</summary>
    public static byte[] Raw(string json, long dataBytes) => Raw(Encoding.UTF8.GetBytes(json), dataBytes);

    public static byte[] Raw(byte[] json, long dataBytes)
    {
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    public static SafetensorsFormatException ParseFails(byte[] file) =>
        Xunit.Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Parse(file));
}

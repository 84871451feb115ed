using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.HuggingFace;
using MoeSpeq.TestSupport;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Model.Tests.HuggingFace;

/// <summary>
/// Golden GGUF models written as Hugging Face directories (config.json, sharded safetensors with an index, the
/// inverse name table, checkpoint-layout Q/K rows, tokenizer.json) and read back: the directory must present the
/// GGUF file's metadata and tensors, byte for byte, and the model must give the GGUF file's logits exactly.
/// </summary>
public sealed class HfRoundTripTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-hf-roundtrip");

    public void Dispose() => _dir.Delete(recursive: true);

    public static TheoryData<string> MixtralModels => new("mixtral-moe-f32", "mixtral-moe-f16", "mixtral-moe-bf16");

    public static TheoryData<string> OtherArchitectures => new("qwen2moe", "qwen3moe", "deepseek2-lite", "deepseek3");

    /// <summary>Keys a converter does not write for these files (the golden generator wrote them), with the engine's default equal to them.</summary>
    static readonly Dictionary<string, string[]> NotFromConfig = new()
    {
        // The Qwen converters write no rope.dimension_count: the engine's default (the head width) is the golden value.
        ["qwen2moe"] = ["qwen2moe.rope.dimension_count"],
        ["qwen3moe"] = ["qwen3moe.rope.dimension_count"],
        // config.json says q_lora_rank null; 0 in GGUF means the same (no q-LoRA).
        ["deepseek2-lite"] = ["deepseek2.attention.q_lora_rank"],
    };

    string Convert(string gguf, long maxShardBytes = 3 << 20)
    {
        string dir = Path.Combine(_dir.FullName, Path.GetFileNameWithoutExtension(gguf));
        var result = HfDirectoryWriter.Write(gguf, dir, new HfWriteOptions { MaxShardBytes = maxShardBytes });
        if (maxShardBytes > 0) Assert.True(result.Shards >= 2, $"{gguf} was written in {result.Shards} shard(s); the test wants several");
        return dir;
    }

    [Theory]
    [MemberData(nameof(MixtralModels))]
    [MemberData(nameof(OtherArchitectures))]
    public void TheDirectoryPresentsTheGgufMetadataAndTensors(string name)
    {
        string gguf = TestPaths.Golden(name + ".gguf");
        string dir = Convert(gguf);
        using var original = GgufFile.Open(gguf);
        using var hf = ModelLoader.OpenFile(dir);
        var h = original.Header;
        string arch = h.GetString("general.architecture")!;

        var skipped = NotFromConfig.GetValueOrDefault(name, []);
        foreach (var key in h.MetadataKeys.Where(k => k.StartsWith(arch + ".", StringComparison.Ordinal) && !skipped.Contains(k)))
        {
            var value = hf.Header.Find(key);
            Assert.True(value is not null, $"{name}: {key} is missing from the directory's metadata");
            Assert.Equal(h.Metadata[key].ToString(), value.ToString());
        }
        foreach (var key in new[] { "general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id" })
            Assert.Equal(h.Find(key)?.ToString(), hf.Header.Find(key)?.ToString());
        Assert.Equal(h.GetArray("tokenizer.ggml.tokens")!.Items, hf.Header.GetArray("tokenizer.ggml.tokens")!.Items);

        // Every GGUF tensor (each expert of a stacked one) has the same bytes in the directory.
        int compared = 0;
        foreach (var t in h.Tensors)
        {
            if (t.Dimensions.Length == 3 && t.Name.Contains("_exps.", StringComparison.Ordinal))
            {
                long slice = t.ByteSize / t.Dim(2);
                for (int e = 0; e < t.Dim(2); e++)
                {
                    string perExpert = t.Name.Replace("_exps.weight", $".{e}.weight");
                    var u = hf.Header.FindTensor(perExpert) ?? throw new Xunit.Sdk.XunitException($"{name}: {perExpert} is missing");
                    Assert.Equal([t.Dim(0), t.Dim(1)], u.Dimensions);
                    Assert.True(original.TensorBytes(t).Slice((int)(slice * e), (int)slice).SequenceEqual(hf.TensorBytes(u)), $"{name}: {perExpert} differs");
                    compared++;
                }
                continue;
            }
            var v = hf.Header.FindTensor(t.Name) ?? throw new Xunit.Sdk.XunitException($"{name}: {t.Name} is missing");
            Assert.Equal(t.Type, v.Type);
            Assert.Equal(t.ElementCount, v.ElementCount);
            Assert.True(original.TensorBytes(t).SequenceEqual(hf.TensorBytes(v)), $"{name}: {v.Describe()} differs");
            compared++;
        }
        Assert.True(compared > 10);
        Assert.True(hf.Files.Count >= 2);
    }

    [Theory]
    [MemberData(nameof(MixtralModels))]
    public void MixtralDirectoriesGiveTheGgufLogits(string name) => AssertSameLogits(name);

    [Theory]
    [MemberData(nameof(OtherArchitectures))]
    public void OtherArchitecturesGiveTheGgufLogits(string name) => AssertSameLogits(name);

    void AssertSameLogits(string name)
    {
        var golden = GoldenCase.Load(TestPaths.Golden(name + ".json"));
        using (var probe = GgufFile.Open(golden.ModelPath))
        {
            string arch = probe.Header.GetString("general.architecture")!;
            if (!ModelLoader.SupportedArchitectures.Contains(arch))
                Assert.Skip($"architecture {arch} is not registered in ModelLoader.SupportedArchitectures yet; its Hugging Face table is ready and tested by TheDirectoryPresentsTheGgufMetadataAndTensors");
        }
        string dir = Convert(golden.ModelPath);
        var expected = Logits(golden.ModelPath, golden.PromptIds, WeightPlacement.Load);
        Assert.Equal(expected, Logits(dir, golden.PromptIds, WeightPlacement.Load));
        // Mapped placement reads the shards in place; rearranged tensors are made once in memory.
        Assert.Equal(expected, Logits(dir, golden.PromptIds, WeightPlacement.Map));
    }

    static float[] Logits(string path, int[] tokens, WeightPlacement placement)
    {
        using var model = ModelLoader.Load(path, new ModelOptions { Threads = 2, Placement = placement });
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.Evaluate(model.CreateState(64), tokens, logits, allLogits: true);
        return logits;
    }

    [Fact]
    public void MixtralQueryAndKeyRowsAreStoredInCheckpointOrderAndRearrangedAtLoad()
    {
        string gguf = TestPaths.Golden("mixtral-moe-f32.gguf");
        string dir = Convert(gguf, maxShardBytes: 0);
        using var original = GgufFile.Open(gguf);
        using var hf = ModelLoader.OpenFile(dir);
        var q = hf.Header.FindTensor("blk.0.attn_q.weight")!;
        Assert.NotNull(q.Rearrangement);
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", q.Origin);
        Assert.Throws<InvalidOperationException>(() => hf.FileOffset(q));
        // The stored rows are in NEOX halves: HF row s·d/2 + i is GGUF row 2i + s, head by head.
        using var st = Formats.Safetensors.SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        var stored = st.Header.FindTensor("model.layers.0.self_attn.q_proj.weight")!;
        var ggufQ = original.Header.FindTensor("blk.0.attn_q.weight")!;
        int cols = (int)ggufQ.Dim(0), rows = (int)ggufQ.Dim(1), heads = (int)original.Header.GetInt("llama.attention.head_count")!, d = rows / heads;
        var ggufRows = original.TensorBytes(ggufQ);
        var hfRows = st.TensorBytes(stored);
        int rowBytes = cols * 4;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < d / 2; i++)
                for (int s = 0; s < 2; s++)
                    Assert.True(ggufRows.Slice((h * d + 2 * i + s) * rowBytes, rowBytes).SequenceEqual(hfRows.Slice((h * d + s * d / 2 + i) * rowBytes, rowBytes)));
        // Experts are a tensor per expert, mapped where they lie.
        var expert = hf.Header.FindTensor("blk.1.ffn_up.7.weight")!;
        Assert.Null(expert.Rearrangement);
        Assert.Contains("block_sparse_moe.experts.7.w3.weight", expert.Origin);
    }

    [Fact]
    public void QuantizedModelsAreWrittenDequantized()
    {
        string gguf = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        string dir = Convert(gguf, maxShardBytes: 0);
        using var hf = ModelLoader.OpenFile(dir);
        Assert.All(hf.Header.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
        using var original = GgufFile.Open(gguf);
        var t0 = original.Header.FindTensor("blk.0.attn_v.weight")!;
        var expected = new float[t0.ElementCount];
        int cols = (int)t0.Dim(0), rowBytes = GgmlTypeInfo.RowBytes(t0.Type, cols);
        for (int r = 0; r < t0.ElementCount / cols; r++)
            Dequantize.Row(t0.Type, original.TensorBytes(t0).Slice(r * rowBytes, rowBytes), expected.AsSpan(r * cols, cols));
        Assert.Equal(expected, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(hf.TensorBytes(hf.Header.FindTensor("blk.0.attn_v.weight")!)).ToArray());
    }
}

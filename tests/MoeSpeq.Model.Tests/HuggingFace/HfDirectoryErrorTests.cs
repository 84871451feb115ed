using System.Text.Json.Nodes;
using MoeSpeq.Formats.HuggingFace;
using MoeSpeq.Formats.Safetensors;
using MoeSpeq.Model.HuggingFace;
using MoeSpeq.Model.Tools;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Model.Tests.HuggingFace;

/// <summary>
/// Model directories that cannot be run fail at load with a typed error naming the file and the key, shard or
/// tensor at fault; a good one built from the same random model loads.
/// </summary>
public sealed class HfDirectoryErrorTests : IDisposable
{
    readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("moespeq-hf-errors");
    readonly string _good;

    public HfDirectoryErrorTests()
    {
        string gguf = Path.Combine(_root.FullName, "model.gguf");
        RandomModelWriter.Write(new RandomModelSpec
        {
            Layers = 2, Dim = 64, Heads = 4, KvHeads = 2, Experts = 4, ExpertsUsed = 2, Ffn = 64, Vocab = 300, Type = GgmlType.F16,
        }, gguf);
        _good = Path.Combine(_root.FullName, "good");
        HfDirectoryWriter.Write(gguf, _good, new HfWriteOptions { MaxShardBytes = 64 << 10 });
    }

    public void Dispose() => _root.Delete(recursive: true);

    /// <summary>A copy of the good directory for a test to break.</summary>
    string Copy()
    {
        string dir = Path.Combine(_root.FullName, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(_good)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    static void EditJson(string path, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    static string Index(string dir) => Path.Combine(dir, HfShardIndex.FileName);
    static string Config(string dir) => Path.Combine(dir, HfModelDirectory.ConfigFileName);

    /// <summary>The shard holding <paramref name="tensor"/>, per the index.</summary>
    static string ShardOf(string dir, string tensor) =>
        Path.Combine(dir, JsonNode.Parse(File.ReadAllText(Index(dir)))!["weight_map"]![tensor]!.GetValue<string>());

    /// <summary>Rewrites one shard, letting the test replace (or, returning null, drop) tensors.</summary>
    static void RewriteShard(string path, Func<SafetensorsTensorInfo, byte[], (string Name, string Dtype, long[] Shape, byte[] Data)?> edit)
    {
        var writer = new SafetensorsWriter();
        using (var shard = SafetensorsFile.Open(path))
            foreach (var t in shard.Header.Tensors)
                if (edit(t, shard.TensorBytes(t).ToArray()) is { } e) writer.AddTensor(e.Name, e.Dtype, e.Shape, e.Data);
        writer.WriteTo(path);
    }

    static T Fails<T>(string dir) where T : Exception => Assert.Throws<T>(() => ModelLoader.Load(dir, new ModelOptions { Threads = 1 }).Dispose());

    [Fact]
    public void TheUnbrokenDirectoryLoads()
    {
        using var model = ModelLoader.Load(_good, new ModelOptions { Threads = 1 });
        Assert.Equal(4, model.Config.ExpertCount);
        Assert.True(model.File.Files.Count >= 2);
    }

    [Fact]
    public void AMissingConfig()
    {
        string dir = Copy();
        File.Delete(Config(dir));
        var e = Fails<HfFormatException>(dir);
        Assert.Equal("config.json", e.FileName);
        Assert.Contains("missing", e.Message);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_attention_heads")]
    public void MissingConfigKeys(string key)
    {
        string dir = Copy();
        EditJson(Config(dir), c => c.Remove(key));
        var e = Fails<HfFormatException>(dir);
        Assert.Equal("config.json", e.FileName);
        Assert.Contains(key, e.Field);
        Assert.Contains("required key is missing", e.Message);
    }

    [Fact]
    public void AConfigValueOfTheWrongKind()
    {
        string dir = Copy();
        EditJson(Config(dir), c => c["num_local_experts"] = "eight");
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("num_local_experts", e.Field);
        Assert.Contains("integer", e.Message);
    }

    [Fact]
    public void ConfigThatIsNotJson()
    {
        string dir = Copy();
        File.WriteAllText(Config(dir), "{\"architectures\": [\"MixtralForCausalLM\"],");
        Assert.Contains("not valid JSON", Fails<HfFormatException>(dir).Message);
    }

    [Fact]
    public void AnUnsupportedArchitecture()
    {
        string dir = Copy();
        EditJson(Config(dir), c => c["architectures"] = new JsonArray("GPT2LMHeadModel"));
        var e = Fails<ModelLoadException>(dir);
        Assert.Contains("GPT2LMHeadModel", e.Message);
        Assert.Contains("MixtralForCausalLM", e.Message);
    }

    [Fact]
    public void ASettingTheArchitectureCannotHonour()
    {
        string dir = Copy();
        EditJson(Config(dir), c =>
        {
            c["architectures"] = new JsonArray("Qwen3MoeForCausalLM");
            c["norm_topk_prob"] = false;
        });
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("norm_topk_prob", e.Field);
    }

    [Fact]
    public void AMissingShard()
    {
        string dir = Copy();
        string shard = ShardOf(dir, "model.layers.1.block_sparse_moe.experts.3.w2.weight");
        File.Delete(shard);
        var e = Fails<HfFormatException>(dir);
        Assert.Equal(HfShardIndex.FileName, e.FileName);
        Assert.Contains(Path.GetFileName(shard), e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void NeitherWeightsFileNorIndex()
    {
        string dir = Copy();
        File.Delete(Index(dir));
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void AnIndexPointingToAnAbsentTensor()
    {
        string dir = Copy();
        string shard = Path.GetFileName(ShardOf(dir, "model.norm.weight"));
        EditJson(Index(dir), j => j["weight_map"]!["model.layers.0.self_attn.o_proj.bias"] = shard);
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("model.layers.0.self_attn.o_proj.bias", e.Field);
        Assert.Contains(shard, e.Message);
    }

    [Fact]
    public void AnIndexThatLeavesTheDirectory()
    {
        string dir = Copy();
        EditJson(Index(dir), j => j["weight_map"]!["model.norm.weight"] = "../elsewhere.safetensors");
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("model.norm.weight", e.Field);
        Assert.Contains("not a file name", e.Message);
    }

    [Fact]
    public void AShardTensorTheIndexDoesNotList()
    {
        string dir = Copy();
        EditJson(Index(dir), j => j["weight_map"]!.AsObject().Remove("model.norm.weight"));
        var e = Fails<HfFormatException>(dir);
        Assert.Equal("model.norm.weight", e.Field);
        Assert.Contains("not in", e.Message);
    }

    [Fact]
    public void AnUnsupportedDtypeNamesTheTensorAndShard()
    {
        string dir = Copy();
        const string name = "model.layers.0.self_attn.v_proj.weight";
        string shard = ShardOf(dir, name);
        RewriteShard(shard, (t, data) => t.Name == name ? (t.Name, "I16", t.Shape, data) : (t.Name, t.Dtype, t.Shape, data));
        var e = Fails<SafetensorsFormatException>(dir);
        Assert.Contains(name, e.Field);
        Assert.Contains("I16", e.Message);
        Assert.Equal(shard, e.FilePath);
    }

    [Fact]
    public void ADtypeTheKernelsTakeButAShapeTheConfigDoesNot()
    {
        string dir = Copy();
        const string name = "model.layers.1.self_attn.v_proj.weight";
        RewriteShard(ShardOf(dir, name), (t, data) => t.Name == name ? (t.Name, "F32", [t.Shape[0] / 2, t.Shape[1]], data) : (t.Name, t.Dtype, t.Shape, data));
        var e = Fails<ModelLoadException>(dir);
        Assert.Contains("blk.1.attn_v.weight", e.Message);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void ExpertsOfOneLayerInDifferentDtypes()
    {
        string dir = Copy();
        const string name = "model.layers.0.block_sparse_moe.experts.2.w1.weight";
        RewriteShard(ShardOf(dir, name), (t, data) => t.Name == name ? (t.Name, "BF16", t.Shape, data) : (t.Name, t.Dtype, t.Shape, data));
        var e = Fails<ModelLoadException>(dir);
        Assert.Contains("must share a type", e.Message);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void ATensorTheTableDoesNotKnow()
    {
        string dir = Copy();
        string shard = ShardOf(dir, "model.norm.weight");
        RewriteShard(shard, (t, data) => t.Name == "model.norm.weight" ? ("model.final_norm.weight", t.Dtype, t.Shape, data) : (t.Name, t.Dtype, t.Shape, data));
        EditJson(Index(dir), j =>
        {
            j["weight_map"]!.AsObject().Remove("model.norm.weight");
            j["weight_map"]!["model.final_norm.weight"] = Path.GetFileName(shard);
        });
        var e = Fails<HfFormatException>(dir);
        Assert.Equal("model.final_norm.weight", e.Field);
        Assert.Contains("no GGUF name", e.Message);
    }

    [Fact]
    public void MoreExpertsThanTheConfigSays()
    {
        string dir = Copy();
        EditJson(Config(dir), c =>
        {
            c["num_local_experts"] = 2;
            c["num_experts_per_tok"] = 1;
        });
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("experts.2", e.Field);
        Assert.Contains("2 experts", e.Message);
    }

    [Fact]
    public void AnUntiedModelWithoutItsOutputProjection()
    {
        string dir = Copy();
        string shard = ShardOf(dir, "lm_head.weight");
        RewriteShard(shard, (t, data) => t.Name == "lm_head.weight" ? null : (t.Name, t.Dtype, t.Shape, data));
        EditJson(Index(dir), j => j["weight_map"]!.AsObject().Remove("lm_head.weight"));
        var e = Fails<HfFormatException>(dir);
        Assert.Contains("tie_word_embeddings", e.Field);
        Assert.Contains("lm_head.weight", e.Message);
    }
}

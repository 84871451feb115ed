using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Tools;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>Files that parse as GGUF but do not describe a runnable model fail with a message naming the problem.</summary>
public sealed class ModelLoadErrorTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-load-errors");
    readonly string _good;

    public ModelLoadErrorTests()
    {
        _good = Path.Combine(_dir.FullName, "good.gguf");
        RandomModelWriter.Write(new RandomModelSpec
        {
            Layers = 1, Dim = 64, Heads = 2, KvHeads = 1, Experts = 4, ExpertsUsed = 2, Ffn = 64, Vocab = 300, Type = GgmlType.F32,
        }, _good);
    }

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Copies the good model, letting the test change metadata and drop tensors.</summary>
    string Variant(Action<GgufWriter> editMetadata, Func<string, bool>? keepTensor = null)
    {
        var path = Path.Combine(_dir.FullName, $"variant-{Guid.NewGuid():N}.gguf");
        using var source = GgufFile.Open(_good);
        var w = new GgufWriter();
        foreach (var key in source.Header.MetadataKeys) w.Set(key, source.Header.Metadata[key]);
        editMetadata(w);
        foreach (var t in source.Header.Tensors.Where(t => keepTensor?.Invoke(t.Name) ?? true))
            w.AddTensor(t.Name, t.Type, t.Dimensions, source.TensorBytes(t).ToArray());
        w.WriteTo(path);
        return path;
    }

    [Fact]
    public void TheUnmodifiedModelLoads()
    {
        using var model = ModelLoader.Load(_good);
        Assert.Equal(4, model.Config.ExpertCount);
    }

    [Fact]
    public void UnknownArchitectureIsNamed()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(Variant(w => w.Set("general.architecture", "mamba"))));
        Assert.Contains("mamba", e.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(Variant(_ => { }, name => name != "blk.0.attn_q.weight")));
        Assert.Contains("blk.0.attn_q.weight", e.Message);
    }

    [Fact]
    public void InconsistentHyperParametersAreNamed()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(Variant(w => w.Set("llama.expert_used_count", 9u))));
        Assert.Contains("expert_used_count", e.Message);
        e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(Variant(w => w.Set("llama.attention.head_count_kv", 3u))));
        Assert.Contains("head_count_kv", e.Message);
        e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(Variant(w => w.Set("llama.embedding_length", 96u))));
        Assert.Contains("shape", e.Message);
    }
}

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

    /// <summary>The good model repacked (a tensor per expert), with one tensor dropped or replaced by zeros of another type or shape.</summary>
    string RepackedVariant(string tensor, GgmlType? type = null, long[]? dimensions = null)
    {
        var repacked = Path.Combine(_dir.FullName, $"repacked-{Guid.NewGuid():N}.gguf");
        ModelRepacker.Repack(_good, repacked);
        var path = Path.Combine(_dir.FullName, $"variant-{Guid.NewGuid():N}.gguf");
        using var source = GgufFile.Open(repacked);
        var w = new GgufWriter();
        foreach (var key in source.Header.MetadataKeys) w.Set(key, source.Header.Metadata[key]);
        foreach (var t in source.Header.Tensors)
        {
            if (t.Name != tensor) w.AddTensor(t.Name, t.Type, t.Dimensions, source.TensorBytes(t).ToArray());
            else if (type is { } to)
            {
                var dims = dimensions ?? t.Dimensions;
                w.AddTensor(t.Name, to, dims, new byte[GgmlTypeInfo.RowBytes(to, (int)dims[0]) * dims[1]]);
            }
        }
        w.WriteTo(path);
        return path;
    }

    [Fact]
    public void ARepackedModelLoadsItsPerExpertTensors()
    {
        var repacked = Path.Combine(_dir.FullName, "repacked.gguf");
        ModelRepacker.Repack(_good, repacked);
        using var a = ModelLoader.Load(_good);
        using var b = ModelLoader.Load(repacked);
        var x = new float[3 * a.Config.VocabSize];
        var y = new float[x.Length];
        a.Evaluate(a.CreateState(8), [1, 2, 3], x, allLogits: true);
        b.Evaluate(b.CreateState(8), [1, 2, 3], y, allLogits: true);
        Assert.Equal(x, y);
    }

    [Fact]
    public void AMissingExpertIsNamed()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(RepackedVariant("blk.0.ffn_up.2.weight")));
        Assert.Contains("blk.0.ffn_up.2.weight is missing", e.Message);
        e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(RepackedVariant("blk.0.ffn_down.0.weight")));
        Assert.Contains("blk.0.ffn_down_exps.weight is missing", e.Message);
    }

    [Fact]
    public void ExpertsOfOneLayerMustShareTypeAndShape()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(RepackedVariant("blk.0.ffn_gate.3.weight", GgmlType.F16)));
        Assert.Contains("blk.0.ffn_gate.3.weight has type F16", e.Message);
        e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(RepackedVariant("blk.0.ffn_down.1.weight", GgmlType.F32, [64, 32])));
        Assert.Contains("blk.0.ffn_down.1.weight has shape", e.Message);
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

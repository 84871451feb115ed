using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.HuggingFace;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// A Hugging Face directory's experts served from a slow tier: the catalog locates each expert in its shard, the
/// disk tier reads the shard files directly, and the logits equal the resident run's.
/// </summary>
public sealed class SafetensorsDirectoryTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-hf-experts");
    readonly string _model;
    readonly int _shards;

    public SafetensorsDirectoryTests()
    {
        // The bundled golden model, dequantized to F32 and cut into shards of 1 MB.
        _model = Path.Combine(_dir.FullName, "mixtral-hf");
        _shards = HfDirectoryWriter.Write(TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), _model, new HfWriteOptions { MaxShardBytes = 1 << 20 }).Shards;
    }

    public void Dispose() => _dir.Delete(recursive: true);

    ExpertRuntime Runtime(string tier) =>
        new(new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1:1", IoThreads = 2 },
            (catalog, path) => SlowTiers.Open(new OffloadOptions { SlowTier = tier }, catalog, path));

    [Theory]
    [InlineData("disk")]
    [InlineData("host")]
    public void ExpertsServedFromTheShardsGiveTheResidentLogits(string tier)
    {
        Assert.True(_shards >= 3, $"the directory has {_shards} shards; the test wants experts spread over several");
        var expected = OffloadedLogitsTests.Run(_model, new ModelOptions { Threads = 2 });
        var runtime = Runtime(tier);
        Assert.Equal(expected, OffloadedLogitsTests.Run(_model, runtime.Attach(new ModelOptions { Threads = 2 })));

        var catalog = runtime.Catalog!;
        Assert.Equal(_shards, catalog.Files.Count);
        Assert.All(catalog.Files, f => Assert.EndsWith(".safetensors", f));
        var keys = Enumerable.Range(0, catalog.Layers).Where(catalog.IsMoeLayer)
            .SelectMany(l => Enumerable.Range(0, catalog.ExpertsPerLayer).Select(e => new ExpertKey(l, e))).ToArray();
        var reads = keys.Select(k => catalog.ReadsOf(k).ToArray()).ToArray();
        Assert.True(reads.SelectMany(r => r).Select(r => r.File).Distinct().Count() >= 2, "experts should lie in several shards");
        // Checkpoints keep an expert's w1, w2, w3 side by side: one read each, but where a shard boundary cuts one.
        Assert.True(reads.Count(r => r.Length == 1) >= keys.Length - _shards, $"{reads.Count(r => r.Length > 1)} experts take more than one read");
        var s = runtime.Stats.Snapshot();
        Assert.True(s.Misses > 0 && s.BytesRead > 0);
        if (tier == "disk") Assert.Contains($"{_shards} files", runtime.Tier!.Description);
    }

    [Fact]
    public void UnloadedExpertsStayViewsOfTheShardMappings()
    {
        using var model = ModelLoader.Load(_model, new ModelOptions { Threads = 2, LoadExperts = false, ExpertExecutor = layout =>
        {
            var m = layout.Layers[0][3].Up;
            var (file, offset) = layout.Weights.LocationOf(m);
            Assert.Equal(layout.File.FilePaths[file], layout.File.Files[file].Path);
            Assert.True(offset >= layout.File.DataOrigin(file));
            return layout.ResidentExecutor(8);
        } });
        Assert.True(model.Weights.LoadedBytes > 0);
    }
}

using MoeSpeq.Experts.Tiers;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Tools;
using MoeSpeq.TestSupport;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// A repacked file (a tensor per expert, each expert 4096-aligned) holds the same model: the same logits resident
/// and from every slow tier, and one read per expert where the stacked file needs three.
/// </summary>
public sealed class RepackedModelTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-repack-").FullName;
    readonly string _stacked = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
    readonly string _repacked;

    public RepackedModelTests()
    {
        _repacked = Path.Combine(_dir, "repacked.gguf");
        ModelRepacker.Repack(_stacked, _repacked);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static ModelOptions Resident => new() { Threads = 2 };

    static ExpertRuntime Runtime(string tier, int alignment = 1)
    {
        var options = new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1:1", IoThreads = 2 };
        return new ExpertRuntime(options, (catalog, path) => tier == "test" ? new FileReadTier(path, alignment) : SlowTiers.Open(options, catalog, path));
    }

    [Fact]
    public void TheRepackedFileKeepsEveryOtherTensorAndAllMetadata()
    {
        using var a = GgufFile.Open(_stacked);
        using var b = GgufFile.Open(_repacked);
        Assert.Equal(ModelRepacker.Alignment, b.Header.Alignment);
        Assert.Equal(a.Header.MetadataKeys.Union(["general.alignment"]), b.Header.MetadataKeys);
        foreach (var key in a.Header.MetadataKeys.Where(k => k != "general.alignment"))
            Assert.Equal(a.Header.Metadata[key].ToString(), b.Header.Metadata[key].ToString());
        foreach (var t in a.Header.Tensors.Where(t => !TensorNames.IsRoutedExpert(t.Name)))
        {
            var u = b.Header.FindTensor(t.Name)!;
            Assert.Equal(t.Type, u.Type);
            Assert.Equal(t.Dimensions, u.Dimensions);
            Assert.True(a.TensorBytes(t).SequenceEqual(b.TensorBytes(u)), t.Name);
        }
        Assert.DoesNotContain(b.Header.Tensors, t => t.Name.Contains("_exps.", StringComparison.Ordinal));
    }

    [Fact]
    public void ExpertsAreContiguousAlignedAndInOrderWithTheirStackedBytes()
    {
        using var a = GgufFile.Open(_stacked);
        using var b = GgufFile.Open(_repacked);
        // llama.cpp needs tensors packed in order with exactly the alignment's padding between them.
        var tensors = b.Header.Tensors;
        for (int i = 1; i < tensors.Count; i++)
            Assert.Equal(GgufReader.AlignUp(tensors[i - 1].DataOffset + tensors[i - 1].ByteSize, ModelRepacker.Alignment), tensors[i].DataOffset);

        int experts = (int)a.Header.RequireInt("llama.expert_count");
        foreach (int layer in new[] { 0, 1 })
        {
            string[] stacked = [$"blk.{layer}.ffn_gate_exps.weight", $"blk.{layer}.ffn_up_exps.weight", $"blk.{layer}.ffn_down_exps.weight"];
            string[] single = ["ffn_gate", "ffn_up", "ffn_down"];
            int first = tensors.ToList().FindIndex(t => t.Name == $"blk.{layer}.ffn_gate.0.weight");
            for (int e = 0; e < experts; e++)
                for (int m = 0; m < 3; m++)
                {
                    var t = tensors[first + 3 * e + m];
                    Assert.Equal($"blk.{layer}.{single[m]}.{e}.weight", t.Name);
                    Assert.Equal(0, b.FileOffset(t) % ModelRepacker.Alignment);
                    var s = a.Header.FindTensor(stacked[m])!;
                    Assert.Equal(s.Type, t.Type);
                    Assert.Equal(s.Dimensions[..2], t.Dimensions);
                    Assert.True(a.TensorBytes(s).Slice((int)(e * t.ByteSize), (int)t.ByteSize).SequenceEqual(b.TensorBytes(t)));
                }
        }
    }

    [Fact]
    public void TheRepackedFileGivesTheOriginalsLogitsResident()
    {
        Assert.Equal(OffloadedLogitsTests.Run(_stacked, Resident), OffloadedLogitsTests.Run(_repacked, Resident));
        Assert.Equal(OffloadedLogitsTests.Run(_stacked, Resident), OffloadedLogitsTests.Run(_repacked, Resident with { Placement = WeightPlacement.Map }));
    }

    [Theory]
    [InlineData("disk", 1)]
    [InlineData("host", 1)]
    [InlineData("test", 1)]
    [InlineData("test", 4096)]
    public void TheRepackedFileGivesTheOriginalsLogitsOffloaded(string tier, int alignment)
    {
        var expected = OffloadedLogitsTests.Run(_stacked, Resident);
        var runtime = Runtime(tier, alignment);
        Assert.Equal(expected, OffloadedLogitsTests.Run(_repacked, runtime.Attach(Resident)));
        Assert.True(runtime.Stats.Snapshot().Misses > 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    public void ARepackedExpertIsOneReadAndAStackedOneThree(int alignment)
    {
        int ReadsPerExpert(string path)
        {
            var runtime = Runtime("test", alignment);
            using var model = ModelLoader.Load(path, runtime.Attach(Resident));
            var catalog = runtime.Catalog!;
            var counts = new HashSet<int>();
            for (int l = 0; l < catalog.Layers; l++)
                for (int e = 0; e < catalog.ExpertsPerLayer; e++)
                {
                    var reads = catalog.ReadsOf(new ExpertKey(l, e));
                    counts.Add(reads.Length);
                    if (path == _repacked) Assert.Equal(0, reads[0].FileOffset % ModelRepacker.Alignment);
                }
            return Assert.Single(counts);
        }
        Assert.Equal(1, ReadsPerExpert(_repacked));
        Assert.Equal(3, ReadsPerExpert(_stacked));
    }

    [Fact]
    public void AQuantizedRepackedFileStaysRepacked()
    {
        string quantized = Path.Combine(_dir, "q8.gguf");
        ModelQuantizer.Quantize(_repacked, quantized, GgmlType.Q8_0);
        using (var file = GgufFile.Open(quantized))
        {
            Assert.Equal(ModelRepacker.Alignment, file.Header.Alignment);
            Assert.Equal(GgmlType.Q8_0, file.Header.FindTensor("blk.1.ffn_up.7.weight")!.Type);
            Assert.DoesNotContain(file.Header.Tensors, t => t.Name.Contains("_exps.", StringComparison.Ordinal));
        }
        var runtime = Runtime("test", 4096);
        using var model = ModelLoader.Load(quantized, runtime.Attach(Resident));
        Assert.Equal(1, runtime.Catalog!.ReadsOf(new ExpertKey(1, 7)).Length);
    }
}

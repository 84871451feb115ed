using MoeSpeq.Experts;
using MoeSpeq.Experts.Eviction;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Tools;
using MoeSpeq.Tensors;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// Draft experts written by make-draft are the experts a self-draft builds at load, byte for byte; a self-draft
/// that reads them decodes as plain greedy does; and a file that does not belong to its target, or cannot be read,
/// is refused with an error that names the file and the field.
/// </summary>
public sealed class DraftExpertsFileTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-draft-experts");

    public void Dispose() => _dir.Delete(recursive: true);

    string Temp(string name) => Path.Combine(_dir.FullName, name);

    /// <summary>Opens <paramref name="path"/> with its experts resident; <paramref name="layout"/> is where they are.</summary>
    static LanguageModel Open(string path, out ExpertLayout layout)
    {
        ExpertLayout? captured = null;
        var model = ModelLoader.Load(path, new ModelOptions
        {
            Threads = 2,
            MaxBatch = 1,
            ExpertExecutor = l =>
            {
                captured = l;
                return l.ResidentExecutor(1);
            },
        });
        layout = captured ?? throw new InvalidOperationException($"{path} has no routed experts");
        return model;
    }

    string MakeDraft(string target, string type)
    {
        string path = Temp($"{Path.GetFileNameWithoutExtension(target)}.{type}.draft.gguf");
        DraftExpertsFile.Make(target, DraftExperts.Types[type], path, threads: 2);
        return path;
    }

    public static TheoryData<string, string, bool> TargetsAndTypes()
    {
        var data = new TheoryData<string, string, bool>();
        // The demo's down matrices have 192 columns: Q4_K and Q2_K fall back to Q4_0 there.
        foreach (var type in DraftExperts.Types.Keys) data.Add("demo", type, false);
        // The golden model mixes expert types per layer and has 64-column gate and up matrices.
        foreach (var type in new[] { "q4_0", "q2_k" }) data.Add("mixtral-moe-q4_k_m.gguf", type, false);
        data.Add("mixtral-moe-q4_k_m.gguf", "q4_k", true);
        return data;
    }

    [Theory]
    [MemberData(nameof(TargetsAndTypes))]
    public unsafe void ExpertsReadFromAMadeDraftAreByteIdenticalToThoseBuiltAtLoad(string model, string type, bool repacked)
    {
        string target = model == "demo" ? TestPaths.DemoModel : TestPaths.Golden(model);
        if (repacked)
        {
            string stacked = target;
            target = Temp("repacked.gguf");
            ModelRepacker.Repack(stacked, target);
        }
        // make-draft opens the target with its experts left in the file, and reads them through the disk tier.
        string draft = MakeDraft(target, type);

        using var m = Open(target, out var layout);
        using var built = DraftExperts.Build(layout, DraftExperts.Types[type], threads: 2);
        using var loaded = DraftExperts.Load(draft, layout);
        Assert.Equal(built.RequestedType, loaded.RequestedType);
        Assert.Equal(built.UsedTypes.Order(), loaded.UsedTypes.Order());
        Assert.Equal("built at load", built.Origin);
        Assert.Equal($"read from {Path.GetFileName(draft)}", loaded.Origin);
        Assert.Contains(loaded.Origin, loaded.Description);
        Assert.InRange(loaded.ResidentBytes, new FileInfo(draft).Length / 2, new FileInfo(draft).Length);
        Assert.Equal(built.Layers.Select(l => l.Length), loaded.Layers.Select(l => l.Length));
        for (int l = 0; l < built.Layers.Length; l++)
            for (int e = 0; e < built.Layers[l].Length; e++)
            {
                var (b, r) = (built.Layers[l][e], loaded.Layers[l][e]);
                foreach (var (x, y, name) in new[] { (b.Gate, r.Gate, "gate"), (b.Up, r.Up, "up"), (b.Down, r.Down, "down") })
                {
                    Assert.Equal((x.Type, x.Rows, x.Cols), (y.Type, y.Rows, y.Cols));
                    Assert.True(new ReadOnlySpan<byte>(x.Data, (int)x.ByteLength).SequenceEqual(new ReadOnlySpan<byte>(y.Data, (int)y.ByteLength)),
                        $"layer {l} expert {e} {name}: the file's bytes differ from those built at load");
                }
            }
    }

    [Fact]
    public void AMadeDraftRecordsItsTargetAndType()
    {
        string draft = MakeDraft(TestPaths.DemoModel, "q2_k");
        using var file = GgufFile.Open(draft);
        using var target = GgufFile.Open(TestPaths.DemoModel);
        var h = file.Header;
        Assert.Equal(DraftExpertsFile.FileType, h.GetString("general.type"));
        Assert.Equal("llama", h.GetString("general.architecture"));
        Assert.Equal((6L, 32L, 256L, 192L), (h.GetInt("llama.block_count"), h.GetInt("llama.expert_count"), h.GetInt("llama.embedding_length"), h.GetInt("llama.expert_feed_forward_length")));
        Assert.Equal("q2_k", h.GetString(DraftExpertsFile.TypeKey));
        Assert.Equal("moe-demo-q8_0.gguf", h.GetString(DraftExpertsFile.TargetFileKey));
        Assert.Equal(GgufFingerprint.Of(target), h.GetString(DraftExpertsFile.FingerprintKey));
        // Only routed experts: 6 layers × gate, up, down.
        Assert.Equal(18, h.Tensors.Count);
        Assert.All(h.Tensors, t => Assert.Contains("_exps.", t.Name));
        Assert.Equal(GgmlType.Q2_K, h.FindTensor("blk.5.ffn_up_exps.weight")!.Type);
        Assert.Equal(GgmlType.Q4_0, h.FindTensor("blk.5.ffn_down_exps.weight")!.Type);
    }

    public static TheoryData<string, string, string> SpeculationCases() => new()
    {
        { "demo", "q4_0", "resident" },
        { "demo", "q2_k", "resident" },
        { "demo", "q4_k", "disk" },
        { "mixtral-moe-q4_k_m.gguf", "q4_k", "host" },
    };

    [Theory]
    [MemberData(nameof(SpeculationCases))]
    public void AFileBackedSelfDraftReproducesPlainGreedy(string model, string type, string tier)
    {
        string target = model == "demo" ? TestPaths.DemoModel : TestPaths.Golden(model);
        var offload = tier == "resident" ? new OffloadOptions()
            : new OffloadOptions { SlowTier = tier, Budget = ExpertBudget.Parse("25%"), Policy = "lookahead", Predictor = "gate-lookahead:1", IoThreads = 2, LinkBandwidthGBps = 4 };
        SpeculativeGreedyTests.AssertAllEqual(target, offload, new DraftExpertsSource.FromFile(MakeDraft(target, type)), "1", "4", "auto");
    }

    [Fact]
    public void ADraftOfAnotherModelOfTheSameShapeIsRefusedByItsFingerprint()
    {
        string draft = MakeDraft(TestPaths.DemoModel, "q4_0");
        string other = Temp("demo-q4_0.gguf");
        ModelQuantizer.Quantize(TestPaths.DemoModel, other, GgmlType.Q4_0);
        using var m = Open(other, out var layout);
        var error = Assert.Throws<DraftExpertsFileException>(() => DraftExperts.Load(draft, layout));
        Assert.Equal(DraftExpertsFile.FingerprintKey, error.Field);
        Assert.Equal(draft, error.Path);
        Assert.Contains(draft, error.Message);
        Assert.Contains("made from moe-demo-q8_0.gguf", error.Message);
        Assert.Contains("make-draft -m demo-q4_0.gguf", error.Message);
    }

    [Fact]
    public void ADraftOfAModelOfAnotherShapeIsRefusedWhileTheTargetLoads()
    {
        string draft = MakeDraft(TestPaths.DemoModel, "q4_0");
        var runtime = new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident"));
        var builder = new SelfDraftBuilder(new DraftExpertsSource.FromFile(draft), 4, runtime);
        var error = Assert.Throws<DraftExpertsFileException>(() =>
            ModelLoader.Load(TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), builder.Attach(runtime.Attach(new ModelOptions { Threads = 2 }))).Dispose());
        Assert.Equal("llama.block_count", error.Field);
        Assert.Contains("6, but the target mixtral-moe-q4_k_m.gguf has 2", error.Message);
    }

    /// <summary>Rewrites <paramref name="source"/> with <paramref name="edit"/> applied to its tensors (null drops one) and metadata.</summary>
    string Rewrite(string source, string name, Func<GgufTensorInfo, byte[], (string Name, GgmlType Type, long[] Dims, byte[] Data)?> edit, Action<GgufWriter>? metadata = null)
    {
        string path = Temp(name);
        using var file = GgufFile.Open(source);
        var writer = new GgufWriter();
        foreach (var key in file.Header.MetadataKeys) writer.Set(key, file.Header.Metadata[key]);
        metadata?.Invoke(writer);
        foreach (var t in file.Header.Tensors)
            if (edit(t, file.TensorBytes(t).ToArray()) is { } e) writer.AddTensor(e.Name, e.Type, e.Dims, e.Data);
        writer.WriteTo(path);
        return path;
    }

    public static TheoryData<string, string, string> Corruptions() => new()
    {
        { "truncated", "blk.", "truncated" }, // the first tensor whose data runs past the end
        { "a model, not a draft", "general.type", "make-draft" },
        { "missing tensor", "blk.3.ffn_up_exps.weight", "missing" },
        { "wrong shape", "blk.0.ffn_gate_exps.weight", "shape [256, 192, 16]" },
        { "type without a kernel", "blk.0.ffn_gate_exps.weight", "Q8_K, which no matrix kernel multiplies" },
        { "unknown requested type", DraftExpertsFile.TypeKey, "\"q3\"" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void ABrokenDraftFileIsATypedErrorNamingTheFileAndField(string corruption, string field, string says)
    {
        string draft = MakeDraft(TestPaths.DemoModel, "q4_0");
        string bad = corruption switch
        {
            "truncated" => Truncate(draft),
            "a model, not a draft" => TestPaths.DemoModel,
            "missing tensor" => Rewrite(draft, "missing.gguf", (t, d) => t.Name == field ? null : (t.Name, t.Type, t.Dimensions, d)),
            "wrong shape" => Rewrite(draft, "shape.gguf", (t, d) => t.Name == field ? (t.Name, t.Type, [.. t.Dimensions[..2], 16], d[..(d.Length / 2)]) : (t.Name, t.Type, t.Dimensions, d)),
            // Q8_K is the activations' type: the quantizer writes it, but no matrix kernel multiplies it.
            "type without a kernel" => Rewrite(draft, "type.gguf", (t, d) => t.Name == field
                ? (t.Name, GgmlType.Q8_K, t.Dimensions, new byte[GgmlTypeInfo.RowBytes(GgmlType.Q8_K, 256) * 192 * 32])
                : (t.Name, t.Type, t.Dimensions, d)),
            _ => Rewrite(draft, "type-key.gguf", (t, d) => (t.Name, t.Type, t.Dimensions, d), w => w.Set(DraftExpertsFile.TypeKey, "q3")),
        };
        using var m = Open(TestPaths.DemoModel, out var layout);
        var error = Assert.Throws<DraftExpertsFileException>(() => DraftExperts.Load(bad, layout));
        Assert.Equal(bad, error.Path);
        Assert.StartsWith(field, error.Field);
        Assert.StartsWith($"draft experts {bad}: ", error.Message);
        Assert.Contains(says, error.Message);
    }

    string Truncate(string path)
    {
        string truncated = Temp("truncated.gguf");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        return truncated;
    }

    [Fact]
    public void TheModelLoaderRefusesADraftExpertsFile()
    {
        string draft = MakeDraft(TestPaths.DemoModel, "q4_0");
        var error = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(draft).Dispose());
        Assert.Contains("general.type is \"draft_experts\"", error.Message);
    }

    [Fact]
    public void MakeRefusesADenseTargetAndItsOwnInput()
    {
        Assert.Contains("no routed experts", Assert.Throws<ArgumentException>(() => MakeDraft(TestPaths.Golden("llama-draft.gguf"), "q4_0")).Message);
        Assert.Contains("must differ", Assert.Throws<ArgumentException>(() =>
            DraftExpertsFile.Make(TestPaths.DemoModel, GgmlType.Q4_0, TestPaths.DemoModel, 2)).Message);
    }

    [Fact]
    public void ASourceIsATypeNameElseAnExistingFile()
    {
        Assert.Equal(new DraftExpertsSource.AtLoad(GgmlType.Q4_K), DraftExpertsSource.Parse("q4_k"));
        Assert.Equal(new DraftExpertsSource.FromFile(TestPaths.DemoModel), DraftExpertsSource.Parse(TestPaths.DemoModel));
        var error = Assert.Throws<ArgumentException>(() => DraftExpertsSource.Parse("q3"));
        Assert.Contains("q4_0, q4_k, q2_k, q8_0", error.Message);
    }
}

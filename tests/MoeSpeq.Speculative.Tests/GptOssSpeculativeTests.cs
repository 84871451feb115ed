using MoeSpeq.Experts;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// A gpt-oss self-draft: its experts are the target's MXFP4 (or F32) matrices requantized to a low-bit type, with the
/// target's biases and clamped SwiGLU; greedy decoding with it must give exactly the plain greedy ids.
/// </summary>
public sealed class GptOssSpeculativeTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-gptoss-draft");

    public void Dispose() => _dir.Delete(recursive: true);

    static string Mxfp4 => TestPaths.Golden("gpt-oss-mxfp4.gguf");

    [Fact]
    public void SpeculativeGreedyEqualsPlainGreedy() =>
        SpeculativeGreedyTests.AssertAllEqual(Mxfp4, new OffloadOptions(), "q4_0", "1", "3", "auto");

    [Fact]
    public void TheF32ModelToo() =>
        SpeculativeGreedyTests.AssertAllEqual(TestPaths.Golden("gpt-oss.gguf"), new OffloadOptions(), "q8_0", "2", "auto");

    [Fact]
    public void OffloadedTargetWithADiskTierToo()
    {
        var offload = new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("25%"), Policy = "lookahead", Predictor = "gate-lookahead:1", IoThreads = 2 };
        SpeculativeGreedyTests.AssertAllEqual(Mxfp4, offload, "q4_0", "2", "auto");
    }

    [Fact]
    public unsafe void AMadeDraftHoldsTheBuiltExpertsAndTheSelfDraftUsesTheTargetsBiases()
    {
        string draft = Path.Combine(_dir.FullName, "gpt-oss.q4_0.draft.gguf");
        // make-draft reads the MXFP4 experts from the file through the disk tier and dequantizes them to requantize.
        DraftExpertsFile.Make(Mxfp4, GgmlType.Q4_0, draft, threads: 2);

        ExpertLayout? layout = null;
        using var model = ModelLoader.Load(Mxfp4, new ModelOptions
        {
            Threads = 2,
            ExpertExecutor = l =>
            {
                layout = l;
                return l.ResidentExecutor(1);
            },
        });
        using var built = DraftExperts.Build(layout!, GgmlType.Q4_0, threads: 2);
        using var loaded = DraftExperts.Load(draft, layout!);
        for (int l = 0; l < built.Layers.Length; l++)
            for (int e = 0; e < built.Layers[l].Length; e++)
            {
                var (target, b, r) = (layout!.Layers[l][e], built.Layers[l][e], loaded.Layers[l][e]);
                Assert.NotNull(target.Bias);
                Assert.Same(target.Bias, b.Bias);
                Assert.Same(target.Bias, r.Bias);
                foreach (var (x, y) in new[] { (b.Gate, r.Gate), (b.Up, r.Up), (b.Down, r.Down) })
                {
                    Assert.Equal(GgmlType.Q4_0, x.Type);
                    Assert.True(new ReadOnlySpan<byte>(x.Data, (int)x.ByteLength).SequenceEqual(new ReadOnlySpan<byte>(y.Data, (int)y.ByteLength)));
                }
            }
        SpeculativeGreedyTests.AssertAllEqual(Mxfp4, new OffloadOptions(), new DraftExpertsSource.FromFile(draft), "3");
    }
}

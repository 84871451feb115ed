using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Tools;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>
/// make-model presets: every preset's tensor plan is the one its architecture loads, checked on a copy with the same
/// structure at toy widths (the true shapes write gigabytes), and the true shapes give the published expert sizes.
/// </summary>
public class PresetModelTests
{
    public static TheoryData<string> Presets => [.. ModelPreset.Names];

    /// <summary>The preset with every width cut to a few blocks but its structure (biases, MLA, shared experts, …) kept.</summary>
    static ModelPreset Toy(ModelPreset p) => p with
    {
        Dim = 256,
        Heads = 4,
        KvHeads = p.KvHeads == p.Heads ? 4 : p.KvHeads == 1 ? 1 : 2,
        HeadDim = p.HeadDim > 0 ? 32 : 0,
        Vocab = 600,
        Ffn = p.Ffn > 0 ? 512 : 0,
        Experts = Math.Min(p.Experts, 16),
        ExpertsUsed = Math.Min(p.ExpertsUsed, 4),
        ExpertFfn = 256,
        SharedExpertFfn = p.SharedExpertFfn > 0 ? 512 : 0,
        KvLoraRank = p.KvLoraRank > 0 ? 64 : 0,
        QkNopeHeadDim = p.KvLoraRank > 0 ? 32 : 0,
        QkRopeHeadDim = p.KvLoraRank > 0 ? 16 : 0,
        VHeadDim = p.KvLoraRank > 0 ? 32 : 0,
        SlidingWindow = p.SlidingWindow > 0 ? 8 : 0,
    };

    [Theory]
    [MemberData(nameof(Presets))]
    public void EveryPresetLoadsAsItsArchitectureAndRuns(string name)
    {
        var preset = Toy(ModelPreset.Find(name));
        if (!ModelLoader.SupportedArchitectures.Contains(preset.Architecture))
            Assert.Skip($"architecture {preset.Architecture} is not registered in this build");
        var path = Path.Combine(Path.GetTempPath(), $"preset-{name}-{Guid.NewGuid():N}.gguf");
        try
        {
            PresetModelWriter.Write(preset, path, layers: preset.LeadingDenseLayers + 2);
            using var model = ModelLoader.Load(path, new ModelOptions { Threads = 2 });
            Assert.Equal(preset.Architecture, model.Config.Architecture);
            Assert.Equal(preset.Experts, model.Config.ExpertCount);
            var state = model.CreateState(16);
            var logits = new float[4 * preset.Vocab];
            model.Evaluate(state, [1, 70, 300, 42], logits, allLogits: true);
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
            Assert.True(logits.Max() > logits.Min(), "a random model's logits must not be flat");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TrueShapesGiveThePublishedExpertSizes()
    {
        // One expert's gate, up and down at the preset's own weight type, from the header of a one-layer file.
        var qwen3 = ExpertBytes("qwen3-30b-a3b", layers: 1);
        Assert.Equal(3L * 2048 * 768 / 256 * 144, qwen3);                // Q4_K: 144 bytes per 256 values
        var gptOss = ExpertBytes("gpt-oss-20b", layers: 1);
        Assert.Equal(3L * 2880 * 2880 / 32 * 17, gptOss);                // MXFP4: 17 bytes per 32 values
    }

    static long ExpertBytes(string name, int layers)
    {
        var path = Path.Combine(Path.GetTempPath(), $"preset-{name}-{Guid.NewGuid():N}.gguf");
        try
        {
            PresetModelWriter.Write(ModelPreset.Find(name), path, layers);
            using var file = GgufFile.Open(path);
            var experts = file.Header.Tensors.Where(t => TensorNames.IsRoutedExpert(t.Name) && t.Name.EndsWith(".weight", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, experts.Count);
            Assert.All(experts, t => Assert.Equal(ModelPreset.Find(name).ExpertType, t.Type));
            return experts.Sum(t => t.ByteSize) / ModelPreset.Find(name).Experts;
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BadPresetRequestsAreClearErrors()
    {
        Assert.Contains("qwen3-30b-a3b", Assert.Throws<ArgumentException>(() => ModelPreset.Find("qwen9")).Message);
        var deepseek = ModelPreset.Find("deepseek-v2-lite");
        Assert.Contains("dense", Assert.Throws<ArgumentException>(() => PresetModelWriter.Write(deepseek, "unused.gguf", layers: 1)).Message);
        Assert.Contains("1..27", Assert.Throws<ArgumentException>(() => PresetModelWriter.Write(deepseek, "unused.gguf", layers: 99)).Message);
        Assert.False(File.Exists("unused.gguf"));
    }
}

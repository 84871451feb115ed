using MoeSpeq.Formats.Gguf;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>
/// The <c>deepseek2</c> architecture against llama.cpp: V2-Lite style (MLA without q-LoRA, softmax routing, two
/// shared experts) and V3 style (q-LoRA, sigmoid routing with a selection bias, group-limited top-k, scaled weights,
/// YaRN), both with a leading dense layer.
/// </summary>
public class DeepSeek2GoldenTests
{
    [Theory]
    [InlineData("deepseek2-lite")]
    [InlineData("deepseek3")]
    public void PromptLogitsMatchLlamaCpp(string name) => GoldenLogitsTests.AssertPromptLogitsMatch(name);

    [Theory]
    [InlineData("deepseek2-lite")]
    [InlineData("deepseek3")]
    public void DecodeStepAllocatesNothing(string name)
    {
        using var model = ModelLoader.Load(TestPaths.Golden(name + ".gguf"), new ModelOptions { Threads = 2 });
        var state = model.CreateState(64);
        var logits = new float[model.Config.VocabSize];
        int[] token = [1];
        for (int i = 0; i < 8; i++) model.Evaluate(state, token, logits, allLogits: false);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 16; i++) model.Evaluate(state, token, logits, allLogits: false);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("deepseek2-lite")]
    [InlineData("deepseek3")]
    public void KvCacheHoldsNoSeparateValues(string name)
    {
        // MLA's values are the latent kv at the head of each key row: the cache is keys only.
        using var model = ModelLoader.Load(TestPaths.Golden(name + ".gguf"), new ModelOptions { Threads = 1 });
        var c = model.Config;
        var state = model.CreateState(64);
        Assert.True(c.ValuesInKeys);
        Assert.True(state.Cache.ValuesInKeys);
        Assert.Equal(4L * 64 * c.BlockCount * c.KeyWidth, state.Cache.ByteSize);
    }

    [Theory]
    [InlineData("deepseek2.attention.key_length_mla", null, "legacy attn_kv_b")]
    [InlineData("deepseek2.expert_gating_func", 4, "expert_gating_func = 4 is not supported")]
    [InlineData("deepseek2.expert_group_used_count", 4, "expert_group_used_count = 4 must be in 1..3")]
    public void UnsupportedVariantsAreClearLoadErrors(string key, int? value, string message)
    {
        var source = TestPaths.Golden("deepseek3.gguf");
        var path = Path.Combine(Path.GetTempPath(), $"moespeq-deepseek-{Guid.NewGuid():N}.gguf");
        try
        {
            using (var file = GgufFile.Open(source))
            {
                var w = new GgufWriter();
                foreach (var k in file.Header.MetadataKeys.Where(k => k != key)) w.Set(k, file.Header.Metadata[k]);
                if (value is int v) w.Set(key, (uint)v);
                foreach (var t in file.Header.Tensors) w.AddTensor(t.Name, t.Type, t.Dimensions, file.TensorBytes(t).ToArray());
                w.WriteTo(path);
            }
            var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(path, new ModelOptions { Threads = 1 }).Dispose());
            Assert.Contains(message, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

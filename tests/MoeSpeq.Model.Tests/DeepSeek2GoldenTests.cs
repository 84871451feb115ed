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
}

using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests;

/// <summary>Perplexity with llama-perplexity's protocol reproduces llama.cpp's figures.</summary>
public class PerplexityTests
{
    static double Measure(string modelPath, string textPath, int context)
    {
        using var model = ModelLoader.Load(modelPath, new ModelOptions { Threads = 2, MaxBatch = context });
        var tokenizer = Tokenizer.FromGguf(model.File.Header);
        var tokens = tokenizer.Encode(File.ReadAllText(textPath), addSpecial: true);
        return Perplexity.Compute(model, tokens.ToArray(), context, tokenizer.AddBos ? tokenizer.BosId : null, cancel: TestContext.Current.CancellationToken).Value;
    }

    [Fact]
    public void GoldenQ4KMModelMatchesLlamaPerplexity()
    {
        var golden = GoldenCase.Load(TestPaths.Golden("mixtral-moe-q4_k_m.json"));
        double ppl = Measure(golden.ModelPath, TestPaths.Golden("ppl_text.txt"), 128);
        Assert.InRange(Math.Abs(ppl - golden.Perplexity) / golden.Perplexity, 0, 0.001);
    }

    [Fact]
    public void TrainedFixtureMatchesLlamaPerplexity()
    {
        // fixtures/README.md: llama-perplexity -c 256 on valid.txt gives 45.7133 for the F16 target.
        double ppl = Measure(TestPaths.Shared("fixtures", "moe-target-f16.gguf"), TestPaths.Shared("fixtures", "valid.txt"), 256);
        Assert.InRange(Math.Abs(ppl - 45.7133) / 45.7133, 0, 0.01);
    }

    [Fact]
    public void TooShortTextIsRejectedWithTheNeededLength()
    {
        using var model = ModelLoader.Load(TestPaths.DemoModel, new ModelOptions { Threads = 1 });
        var e = Assert.Throws<ArgumentException>(() => Perplexity.Compute(model, [1, 2, 3], 128, 1, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("256", e.Message);
    }
}

using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests;

/// <summary>phimoe (phi-3 vocabulary, LongRoPE short factors at -c 128) reproduces llama-perplexity's figure.</summary>
public class PhiMoePerplexityTests
{
    [Fact]
    public void GoldenPhiMoeMatchesLlamaPerplexity()
    {
        var golden = GoldenCase.Load(TestPaths.Golden("phimoe.json"));
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions { Threads = 2, MaxBatch = 128 });
        var tokenizer = Tokenizer.FromGguf(model.File.Header);
        var tokens = tokenizer.Encode(File.ReadAllText(TestPaths.Golden("ppl_text.txt")), addSpecial: true);
        double ppl = Perplexity.Compute(model, tokens.ToArray(), 128, tokenizer.AddBos ? tokenizer.BosId : null, cancel: TestContext.Current.CancellationToken).Value;
        // golden/README.md: within 0.01 % for an engine that rounds activations as llama.cpp does.
        Assert.InRange(Math.Abs(ppl - golden.Perplexity) / golden.Perplexity, 0, 1e-4);
    }
}

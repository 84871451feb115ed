using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>Different ways of feeding the same tokens give the same logits.</summary>
public class ForwardConsistencyTests
{
    static readonly int[] Tokens = [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203];

    static float[] Evaluate(string path, int maxBatch, int threads, bool incremental)
    {
        using var model = ModelLoader.Load(path, new ModelOptions { Threads = threads, MaxBatch = maxBatch });
        var state = model.CreateState(64);
        int vocab = model.Config.VocabSize;
        var logits = new float[Tokens.Length * vocab];
        var tokens = Tokens.Select(t => t % vocab).ToArray();
        if (!incremental) model.Evaluate(state, tokens, logits, allLogits: true);
        else
            for (int t = 0; t < Tokens.Length; t++)
                model.Evaluate(state, tokens.AsSpan(t, 1), logits.AsSpan(t * vocab, vocab), allLogits: false);
        return logits;
    }

    [Fact]
    public void ChunkedBatchesAndThreadCountsGiveIdenticalLogits()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var reference = Evaluate(path, maxBatch: 64, threads: 1, incremental: false);
        Assert.Equal(reference, Evaluate(path, maxBatch: 64, threads: 2, incremental: false));
        Assert.Equal(reference, Evaluate(path, maxBatch: 5, threads: 2, incremental: false));
    }

    /// <summary>
    /// Kernels are batch-invariant (a row's result never depends on the rows beside it), so a batched pass equals
    /// one-token decoding bit for bit: what makes speculative verification reproduce plain greedy decoding exactly.
    /// </summary>
    [Theory]
    [InlineData("mixtral-moe-q4_k_m.gguf")]
    [InlineData("mixtral-moe-q8_0.gguf")]
    [InlineData("mixtral-moe-q4_0.gguf")]
    [InlineData("mixtral-moe-f16.gguf")]
    [InlineData("mixtral-moe-bf16.gguf")]
    [InlineData("mixtral-moe-f32.gguf")]
    [InlineData("llama-draft.gguf")]
    [InlineData("demo")]
    public void OneTokenAtATimeMatchesTheBatchedPassExactly(string file)
    {
        var path = file == "demo" ? TestPaths.DemoModel : TestPaths.Golden(file);
        var batched = Evaluate(path, maxBatch: 64, threads: 2, incremental: false);
        var stepped = Evaluate(path, maxBatch: 64, threads: 2, incremental: true);
        Assert.Equal(batched, stepped);
    }
}

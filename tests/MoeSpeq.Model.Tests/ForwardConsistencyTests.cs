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
        if (!incremental) model.Evaluate(state, Tokens, logits, allLogits: true);
        else
            for (int t = 0; t < Tokens.Length; t++)
                model.Evaluate(state, Tokens.AsSpan(t, 1), logits.AsSpan(t * vocab, vocab), allLogits: false);
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

    [Fact]
    public void OneTokenAtATimeMatchesTheBatchedPass()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var batched = Evaluate(path, maxBatch: 64, threads: 2, incremental: false);
        var stepped = Evaluate(path, maxBatch: 64, threads: 2, incremental: true);
        double maxAbs = 0;
        for (int i = 0; i < batched.Length; i++) maxAbs = Math.Max(maxAbs, Math.Abs(batched[i] - stepped[i]));
        Assert.True(maxAbs < 1e-4, $"max |batched − incremental| = {maxAbs:E2}");
    }
}

using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>The <c>qwen2moe</c>, <c>qwen3moe</c> and <c>olmoe</c> architectures against llama.cpp's golden files.</summary>
public class QwenOlmoeModelTests
{
    public static TheoryData<string> Models => new("qwen2moe", "qwen3moe", "olmoe");

    [Theory]
    [MemberData(nameof(Models))]
    public void PromptLogitsMatchLlamaCpp(string name) => GoldenLogitsTests.AssertPromptLogitsMatch(name);

    /// <summary>16 greedy ids decoded one token at a time equal llama.cpp's, up to the first step whose margin is a near-tie.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void GreedyContinuationMatchesLlamaCpp(string name)
    {
        var golden = GoldenCase.Load(TestPaths.Golden(name + ".json"));
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions { Threads = 2 });
        var state = model.CreateState(256);
        var logits = new float[golden.Vocab];
        model.Evaluate(state, golden.PromptIds, logits, allLogits: false);
        for (int i = 0; i < golden.GreedyIds.Length && golden.GreedyMargins[i] > 0.01; i++)
        {
            int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
            Assert.True(golden.GreedyIds[i] == next, $"{name}: greedy id {i} is {next}, llama.cpp's {golden.GreedyIds[i]}");
            model.Evaluate(state, [next], logits, allLogits: false);
        }
    }

    /// <summary>Batch-invariant forward passes (what speculative verification relies on) hold for these architectures too.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void OneTokenAtATimeMatchesTheBatchedPassExactly(string name)
    {
        var golden = GoldenCase.Load(TestPaths.Golden(name + ".json"));
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions { Threads = 2, MaxBatch = 5 });
        int vocab = model.Config.VocabSize, n = golden.PromptIds.Length;
        var batched = new float[n * vocab];
        model.Evaluate(model.CreateState(64), golden.PromptIds, batched, allLogits: true);
        var stepped = new float[n * vocab];
        var state = model.CreateState(64);
        for (int t = 0; t < n; t++) model.Evaluate(state, golden.PromptIds.AsSpan(t, 1), stepped.AsSpan(t * vocab, vocab), allLogits: false);
        Assert.Equal(batched, stepped);
    }

    /// <summary>
    /// What llama.cpp's graphs pass as norm_w: Qwen3-MoE renormalises the top-k probabilities, Qwen2-MoE and OLMoE use
    /// them as they are. A wrong choice would still give plausible logits, so the seam is checked directly.
    /// </summary>
    [Theory]
    [InlineData("qwen2moe", false)]
    [InlineData("qwen3moe", true)]
    [InlineData("olmoe", false)]
    public void TopKWeightsAreRenormalisedExactlyWhereLlamaCppDoes(string name, bool renormalised)
    {
        var golden = GoldenCase.Load(TestPaths.Golden(name + ".json"));
        var sums = new List<float>();
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions
        {
            Threads = 2,
            ExpertExecutor = layout => new WeightSumRecorder(layout.ResidentExecutor(16), sums),
        });
        model.Evaluate(model.CreateState(64), golden.PromptIds, new float[model.Config.VocabSize], allLogits: false);
        Assert.Equal(model.Config.BlockCount * golden.PromptIds.Length, sums.Count);
        if (renormalised) Assert.All(sums, s => Assert.Equal(1f, s, 5));
        else Assert.All(sums, s => Assert.InRange(s, 0f, 0.9999f));
    }

    sealed class WeightSumRecorder(IExpertExecutor inner, List<float> sums) : IExpertExecutor
    {
        public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
        {
            for (int t = 0; t < tokens; t++)
            {
                float sum = 0;
                for (int j = 0; j < k; j++) sum += weights[t * k + j];
                sums.Add(sum);
            }
            inner.Forward(layer, residual, hidden, ids, weights, tokens, k, output);
        }
    }

    [Fact]
    public void HyperParametersFollowLlamaCpp()
    {
        using (var qwen2 = ModelLoader.Load(TestPaths.Golden("qwen2moe.gguf"), new ModelOptions { Threads = 1 }))
        {
            Assert.Equal(RopeMode.Neox, qwen2.Config.RopeMode);
            Assert.Equal((32, 96), (qwen2.Config.ExpertFeedForwardLength, qwen2.Config.SharedExpertFeedForwardLength));
        }
        using (var qwen3 = ModelLoader.Load(TestPaths.Golden("qwen3moe.gguf"), new ModelOptions { Threads = 1 }))
        {
            Assert.Equal(RopeMode.Neox, qwen3.Config.RopeMode);
            // Heads of key_length 32 with n_embd 64 and 4 heads: the query is wider than the residual stream.
            Assert.Equal((32, 128, 64), (qwen3.Config.KeyLength, qwen3.Config.QueryWidth, qwen3.Config.EmbeddingLength));
            Assert.False(qwen3.Weights.Has(TensorId.Output)); // tied: the logits come from the token embedding
        }
        using var olmoe = ModelLoader.Load(TestPaths.Golden("olmoe.gguf"), new ModelOptions { Threads = 1 });
        Assert.Equal(RopeMode.Neox, olmoe.Config.RopeMode);
        Assert.Equal(olmoe.Config.FeedForwardLength, olmoe.Config.ExpertFeedForwardLength); // olmoe's experts are n_ff wide
    }

    [Fact]
    public void QkNormIsPerHeadOrWholeRowByTheWeightsWidth()
    {
        float[] q = [1, 2, 3, 4, 5, 6, 7, 8]; // one position, two heads of 4
        float[] k = [1, 2, 3, 4, 5, 6, 7, 8];
        float[] perHead = [1, 1, 1, 1], whole = [1, 1, 1, 1, 1, 1, 1, 1];
        QkNorm.Apply(q, k, perHead, whole, 0);
        float head0 = MathF.Sqrt((1 + 4 + 9 + 16) / 4f), head1 = MathF.Sqrt((25 + 36 + 49 + 64) / 4f);
        float row = MathF.Sqrt((1 + 4 + 9 + 16 + 25 + 36 + 49 + 64) / 8f);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal((i + 1) / (i < 4 ? head0 : head1), q[i], 5);
            Assert.Equal((i + 1) / row, k[i], 5);
        }
    }
}

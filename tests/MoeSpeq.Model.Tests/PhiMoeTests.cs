using System.Numerics.Tensors;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>
/// llama.cpp's <c>phimoe</c> (Phi-3.5-MoE) on the golden model: RMSNorm + bias norms, Q/K/V/O and output biases,
/// LongRoPE factors with the rope attention factor, softmax → top-2 → renormalise routing.
/// </summary>
public class PhiMoeTests
{
    [Fact]
    public void PromptLogitsMatchLlamaCpp() => GoldenLogitsTests.AssertPromptLogitsMatch("phimoe");

    [Fact]
    public void GreedyDecodeOneTokenAtATimeFollowsLlamaCpp()
    {
        var golden = GoldenCase.Load(TestPaths.Golden("phimoe.json"));
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions { Threads = 2 });
        var state = model.CreateState(256);
        var prompt = new float[golden.Tokens * golden.Vocab];
        model.Evaluate(state, golden.PromptIds, prompt, allLogits: true);
        var logits = prompt.AsSpan((golden.Tokens - 1) * golden.Vocab, golden.Vocab).ToArray();
        for (int i = 0; i < golden.GreedyIds.Length; i++)
        {
            int id = TensorPrimitives.IndexOfMax(logits);
            // Past a near-tie a different choice is noise, and everything after it diverges (golden/README.md).
            if (golden.GreedyMargins[i] < 1e-2) break;
            Assert.Equal(golden.GreedyIds[i], id);
            model.Evaluate(state, [id], logits, allLogits: false);
        }
    }

    /// <summary>
    /// llama.cpp picks rope_factors_long when the context exceeds rope.scaling.original_context_length (4096 here),
    /// else rope_factors_short; the context is the RunState's. Position 0 turns by no angle, so only later rows differ.
    /// </summary>
    [Fact]
    public void LongRopeFactorsFollowTheContextOfTheState()
    {
        var golden = GoldenCase.Load(TestPaths.Golden("phimoe.json"));
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions { Threads = 2 });
        Assert.Equal(4096, model.Config.RopeOriginalContext);
        float[] Logits(int context)
        {
            var logits = new float[golden.Tokens * golden.Vocab];
            model.Evaluate(model.CreateState(context), golden.PromptIds, logits, allLogits: true);
            return logits;
        }
        var small = Logits(256);
        var original = Logits(4096);
        var longer = Logits(4097);
        Assert.Equal(small, original);
        int vocab = golden.Vocab;
        Assert.Equal(small.AsSpan(0, vocab).ToArray(), longer.AsSpan(0, vocab).ToArray());
        double diff = 0;
        for (int i = vocab; i < small.Length; i++) diff = Math.Max(diff, Math.Abs(small[i] - longer[i]));
        Assert.True(diff > 1e-2, $"the long factors changed the logits by only {diff:E2}");
    }

    /// <summary>
    /// The router preview that gate look-ahead prefetches from applies the FFN norm with its bias: on the residual
    /// stream that enters a layer's FFN it gives that layer's own choice of experts.
    /// </summary>
    [Fact]
    public void RouterPreviewOnTheLayersOwnInputGivesItsRouting()
    {
        var golden = GoldenCase.Load(TestPaths.Golden("phimoe.json"));
        ExpertLayout? layout = null;
        IExpertExecutor? inner = null;
        int checkedRows = 0;
        var checker = new CheckingExecutor((layer, residual, ids, k) =>
        {
            var preview = layout!.Routers;
            int dim = layout.Config.EmbeddingLength, experts = layout.Config.ExpertCount;
            var logits = new float[experts];
            var chosen = new int[k];
            for (int t = 0; t < ids.Length / k; t++)
            {
                preview.Logits(layer, residual.Slice(t * dim, dim), logits);
                Router.Softmax(logits);
                Router.TopK(logits, chosen);
                Assert.Equal(ids.Slice(t * k, k).ToArray(), chosen);
                checkedRows++;
            }
        }, () => inner!);
        using var model = ModelLoader.Load(golden.ModelPath, new ModelOptions
        {
            Threads = 2,
            ExpertExecutor = l => { layout = l; inner = l.ResidentExecutor(128); return checker; },
        });
        var logits = new float[golden.Tokens * golden.Vocab];
        model.Evaluate(model.CreateState(64), golden.PromptIds, logits, allLogits: true);
        Assert.Equal(golden.Tokens * model.Config.BlockCount, checkedRows);
    }

    delegate void RoutingCheck(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<int> ids, int k);

    sealed class CheckingExecutor(RoutingCheck check, Func<IExpertExecutor> inner) : IExpertExecutor
    {
        public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
        {
            check(layer, residual, ids[..(tokens * k)], k);
            inner().Forward(layer, residual, hidden, ids, weights, tokens, k, output);
        }
    }
}

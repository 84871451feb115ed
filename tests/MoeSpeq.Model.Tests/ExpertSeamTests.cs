using MoeSpeq.Model.Experts;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>The expert-executor seam: a runtime plugged in through ModelOptions sees every routed expert and changes nothing.</summary>
public class ExpertSeamTests
{
    /// <summary>Wraps the resident executor and records what the model asked for.</summary>
    sealed class RecordingExecutor(ExpertLayout layout) : IExpertExecutor
    {
        readonly ResidentExpertExecutor _inner = new(layout.Layers,
            new ExpertFfn(layout.MatMul, layout.Config.EmbeddingLength, layout.Config.ExpertFeedForwardLength, 8),
            layout.Config.ExpertCount, 8 * layout.Config.ExpertUsedCount);

        public List<(int Layer, int Tokens, int[] Ids)> Calls { get; } = [];

        public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
        {
            Calls.Add((layer, tokens, ids[..(tokens * k)].ToArray()));
            for (int t = 0; t < tokens; t++)
            {
                float sum = 0;
                for (int j = 0; j < k; j++) sum += weights[t * k + j];
                Assert.Equal(1f, sum, 5); // Mixtral routing renormalises the chosen weights
            }
            Assert.Equal(hidden.Length, residual.Length);
            _inner.Forward(layer, residual, hidden, ids, weights, tokens, k, output);
        }
    }

    [Fact]
    public void APluggedExecutorSeesEveryLayerAndLeavesLogitsUnchanged()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        int[] tokens = [1, 450, 4996, 17354, 1701];
        RecordingExecutor? recorder = null;
        using var plugged = ModelLoader.Load(path, new ModelOptions { Threads = 2, ExpertExecutor = layout => recorder = new RecordingExecutor(layout) });
        using var resident = ModelLoader.Load(path, new ModelOptions { Threads = 2 });

        var a = new float[tokens.Length * resident.Config.VocabSize];
        var b = new float[a.Length];
        plugged.Evaluate(plugged.CreateState(32), tokens, a, allLogits: true);
        resident.Evaluate(resident.CreateState(32), tokens, b, allLogits: true);
        Assert.Equal(b, a);

        Assert.NotNull(recorder);
        Assert.Equal(Enumerable.Range(0, plugged.Config.BlockCount), recorder.Calls.Select(c => c.Layer));
        Assert.All(recorder.Calls, c =>
        {
            Assert.Equal(tokens.Length, c.Tokens);
            Assert.All(c.Ids, id => Assert.InRange(id, 0, plugged.Config.ExpertCount - 1));
        });
    }
}

using System.Text;
using System.Text.Json;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// The gate-lookahead predictor, scored per layer while the trained fixture decodes valid.txt, agrees with the
/// fixture's own routing statistics (routing_stats.json, measured in PyTorch on the F32 model): layer L+1's recall is
/// what the JSON's entry for layer L calls look-ahead from layer L's pre-MoE residual. The protocol is the JSON's:
/// 256-token chunks of BOS + valid.txt with each chunk's first token set to BOS, BOS positions not scored; decoding
/// one token per pass makes the predictor preview every position. The first two of its 21 chunks are decoded, which
/// keeps the test short.
/// </summary>
public sealed class PredictorRecallTests
{
    const int Context = 256;
    const int Chunks = 2;
    // A layer's recall varies by about ±0.03 from one chunk to the next, and the mean of the first two lay within
    // 0.025 of the figure over all 21; the JSON comes from the F32 model in PyTorch, this from the F16 file, so a
    // routing near a tie may differ too.
    const double Tolerance = 0.05;

    [Theory]
    [InlineData("gate-lookahead:1:0", 4, "recall_at_4")]
    [InlineData("gate-lookahead:1:4", 8, "recall_of_true_top4_in_predicted_top8")]
    public void PerLayerRecallAgreesWithTheFixturesRoutingStatistics(string predictor, int predictedPerPosition, string field)
    {
        if (TestPaths.SharedDir is null) Assert.Skip("../shared is absent: the trained fixture and its routing statistics are not available");
        var path = TestPaths.Shared("fixtures", "moe-target-f16.gguf");
        using var json = JsonDocument.Parse(File.ReadAllBytes(TestPaths.Shared("fixtures", "routing_stats.json")));
        // The last layer has no next layer to look ahead to.
        var expected = json.RootElement.GetProperty("layers").EnumerateArray()
            .Select(l => l.TryGetProperty("lookahead_to_next_layer", out var next) && next.ValueKind == JsonValueKind.Object
                ? next.GetProperty("from_layer_L_pre_moe_residual").GetProperty(field).GetDouble()
                : double.NaN)
            .ToArray();
        Assert.Equal(5, expected.Count(double.IsFinite));

        var measured = Decode(path, predictor);
        var table = new StringBuilder($"{predictor} vs routing_stats.json {field}:");
        for (int l = 0; l + 1 < measured.Length; l++) table.Append($"\n  layer {l} → {l + 1}: measured {measured[l + 1].Recall:F4}, JSON {expected[l]:F4}");
        TestContext.Current.SendDiagnosticMessage(table.ToString());
        long positions = Chunks * (Context - 1);
        for (int l = 0; l + 1 < measured.Length; l++)
        {
            // Every position previewed and scored: the fixture routes to 4 experts per position.
            Assert.Equal(4 * positions, measured[l + 1].Actual);
            Assert.Equal(predictedPerPosition * positions, measured[l + 1].Predicted);
            Assert.True(Math.Abs(measured[l + 1].Recall - expected[l]) <= Tolerance, table.ToString());
        }
        Assert.Equal(0, measured[0].Predicted); // nothing comes before layer 0 to predict it from
    }

    /// <summary>Decodes the chunks token by token; returns each layer's prediction counts over the non-BOS positions.</summary>
    static ExpertStats.LayerPrediction[] Decode(string path, string predictor)
    {
        var runtime = new ExpertRuntime(new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("100%"), Predictor = predictor, IoThreads = 1 },
            (_, p) => new FileReadTier(p));
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2, MaxBatch = 1 }));
        var tokenizer = Tokenizer.FromGguf(model.File.Header);
        string text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(File.ReadAllBytes(TestPaths.Shared("fixtures", "valid.txt")));
        var tokens = tokenizer.Encode(text, addSpecial: true);
        var state = model.CreateState(Context);
        var logits = new float[model.Config.VocabSize];
        var sums = new ExpertStats.LayerPrediction[model.Config.BlockCount];
        Assert.True(tokens.Count >= Chunks * Context, $"valid.txt holds {tokens.Count} tokens");
        for (int chunk = 0; chunk < Chunks; chunk++)
        {
            state.Position = 0;
            model.Evaluate(state, [tokenizer.BosId], logits, allLogits: false);
            var before = runtime.Stats.Snapshot().Layers;
            for (int i = 1; i < Context; i++) model.Evaluate(state, [tokens[chunk * Context + i]], logits, allLogits: false);
            var after = runtime.Stats.Snapshot().Layers;
            for (int l = 0; l < sums.Length; l++)
                sums[l] = new(sums[l].Predicted + after[l].Predicted - before[l].Predicted,
                    sums[l].PredictedTrue + after[l].PredictedTrue - before[l].PredictedTrue,
                    sums[l].Actual + after[l].Actual - before[l].Actual);
        }
        var total = runtime.Stats.Snapshot();
        Assert.Equal(total.Predicted, total.Layers.Sum(l => l.Predicted)); // the per-layer counts add up to the aggregate
        Assert.Equal(total.PredictedTrue, total.Layers.Sum(l => l.PredictedTrue));
        Assert.Equal(total.Actual, total.Layers.Sum(l => l.Actual));
        return sums;
    }
}

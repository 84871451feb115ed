using MoeSpeq.Model.Layers;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary><see cref="GroupLimitedRouter"/> against a plain reference written from DeepSeek-V3's routing description.</summary>
public class GroupLimitedRouterTests
{
    /// <summary>Probabilities, bias, groups and top-k spelled out one step at a time with LINQ.</summary>
    static (int[] Ids, float[] Weights) Reference(float[] logits, float[] bias, GroupLimitedRouter r)
    {
        float[] probs;
        if (r.Gating == GatingFunction.Softmax)
        {
            float max = logits.Max();
            double sum = logits.Sum(v => (double)MathF.Exp(v - max));
            probs = [.. logits.Select(v => (float)(MathF.Exp(v - max) / sum))];
        }
        else probs = [.. logits.Select(v => 1f / (1f + MathF.Exp(-v)))];
        var selection = probs.Select((p, e) => p + (bias.Length > 0 ? bias[e] : 0f)).ToArray();
        if (r.Groups > 1)
        {
            int size = r.Experts / r.Groups;
            var kept = Enumerable.Range(0, r.Groups)
                .OrderByDescending(g => selection.Skip(g * size).Take(size).OrderByDescending(v => v).Take(2).Sum())
                .Take(r.GroupsUsed).ToHashSet();
            for (int e = 0; e < r.Experts; e++) if (!kept.Contains(e / size)) selection[e] = float.NegativeInfinity;
        }
        int[] ids = [.. Enumerable.Range(0, r.Experts).OrderByDescending(e => selection[e]).ThenBy(e => e).Take(r.K)];
        var weights = ids.Select(e => probs[e]).ToArray();
        if (r.Normalize)
        {
            float sum = Math.Max(weights.Sum(), 6.103515625e-5f);
            weights = [.. weights.Select(w => w / sum)];
        }
        if (r.Scale is not (0f or 1f)) weights = [.. weights.Select(w => w * r.Scale)];
        return (ids, weights);
    }

    public static TheoryData<int, int, GatingFunction, int, int, bool, float, bool> Shapes => new()
    {
        { 8, 2, GatingFunction.Softmax, 0, 0, false, 1f, false },     // V2-Lite golden: softmax, no groups, no renormalisation
        { 16, 4, GatingFunction.Sigmoid, 4, 2, true, 2.5f, true },    // V3 golden
        { 256, 8, GatingFunction.Sigmoid, 8, 4, true, 2.5f, true },   // DeepSeek-V3 itself
        { 160, 6, GatingFunction.Softmax, 8, 3, false, 16f, false },  // DeepSeek-V2: softmax with groups, scaled
        { 64, 6, GatingFunction.Sigmoid, 1, 1, true, 1.8f, true },    // sigmoid and bias without groups (GLM-4.7-Flash style)
        { 12, 3, GatingFunction.Softmax, 3, 1, true, 0f, false },     // one group of four kept for three experts
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesThePlainReference(int experts, int k, GatingFunction gating, int groups, int used, bool normalize, float scale, bool withBias)
    {
        var router = new GroupLimitedRouter(experts, k, gating, groups, used, normalize, scale).Validated();
        var rng = new Random(experts * 31 + k);
        const int tokens = 17;
        var logits = new float[tokens * experts];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(rng.NextDouble() * 6 - 3);
        float[] bias = withBias ? [.. Enumerable.Range(0, experts).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.6f)] : [];
        var expected = Enumerable.Range(0, tokens).Select(t => Reference(logits[(t * experts)..((t + 1) * experts)], bias, router)).ToArray();

        var ids = new int[tokens * k];
        var weights = new float[tokens * k];
        router.Select(logits, tokens, bias, new float[experts + Math.Max(groups, 1)], ids, weights);
        for (int t = 0; t < tokens; t++)
        {
            Assert.Equal(expected[t].Ids, ids[(t * k)..((t + 1) * k)]);
            for (int j = 0; j < k; j++) Assert.Equal(expected[t].Weights[j], weights[t * k + j], 1e-6f * Math.Max(1f, scale));
        }
    }

    [Fact]
    public void TheBiasChoosesButDoesNotWeigh()
    {
        // Sigmoid probabilities 0.73, 0.5, 0.27, 0.12: the bias lifts expert 3 above expert 0 for the choice only.
        var router = new GroupLimitedRouter(4, 2, GatingFunction.Sigmoid, 0, 0, Normalize: false, Scale: 1f);
        float[] logits = [1f, 0f, -1f, -2f];
        var ids = new int[2];
        var weights = new float[2];
        router.Select(logits, 1, [0f, 0f, 0f, 1f], new float[5], ids, weights);
        Assert.Equal([3, 0], ids);
        Assert.Equal(1f / (1f + MathF.Exp(2f)), weights[0]);
        Assert.Equal(1f / (1f + MathF.Exp(-1f)), weights[1]);
    }

    [Fact]
    public void AGroupIsScoredByItsTwoBestExpertsNotItsBestOne()
    {
        // Groups of two: {0.9, 0.0} scores 0.9 and {0.6, 0.5} scores 1.1, so the single best expert 0 is not chosen.
        var router = new GroupLimitedRouter(4, 2, GatingFunction.Sigmoid, 2, 1, Normalize: true, Scale: 2.5f);
        float[] probs = [0.9f, 0f, 0.6f, 0.5f];
        float[] logits = [.. probs.Select(p => p == 0 ? -30f : MathF.Log(p / (1 - p)))];
        var ids = new int[2];
        var weights = new float[2];
        router.Select(logits, 1, [], new float[6], ids, weights);
        Assert.Equal([2, 3], ids);
        Assert.Equal(2.5f, weights[0] + weights[1], 1e-5f);
    }

    [Theory]
    [InlineData(16, 4, 3, 2, "divide")]       // 16 experts do not split into 3 groups
    [InlineData(16, 4, 4, 4, "group_used")]   // every group kept
    [InlineData(16, 9, 4, 2, "cannot hold")]  // two groups of four cannot hold nine experts
    [InlineData(8, 2, 8, 2, "be smaller")]    // groups of one expert cannot be scored by their two best
    public void ImpossibleGroupShapesAreLoadErrors(int experts, int k, int groups, int used, string reason)
    {
        var e = Assert.Throws<ModelLoadException>(() => new GroupLimitedRouter(experts, k, GatingFunction.Sigmoid, groups, used, true, 1f).Validated());
        Assert.Contains(reason, e.Message);
    }
}

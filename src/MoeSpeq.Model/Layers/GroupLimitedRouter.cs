using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

/// <summary>How router logits become expert probabilities, numbered as GGUF's <c>expert_gating_func</c>.</summary>
public enum GatingFunction
{
    Softmax = 1,
    Sigmoid = 2,
}

/// <summary>
/// DeepSeek-V2/V3 routing, as llama.cpp's <c>build_moe_ffn</c> computes it:
/// <list type="number">
/// <item>probabilities p = softmax(logits) or sigmoid(logits);</item>
/// <item>selection scores s = p + bias (V3's <c>exp_probs_b</c>; the bias only chooses experts, it never weighs them);</item>
/// <item>with expert groups, each group scores the sum of its two best s, and every expert outside the
/// <c>groupsUsed</c> best groups is excluded;</item>
/// <item>the k best remaining s, best first, are the ids; their unbiased p are the weights, optionally divided by
/// their sum (clamped below as ggml does) and then multiplied by <c>scale</c>.</item>
/// </list>
/// </summary>
public sealed record GroupLimitedRouter(
    int Experts, int K, GatingFunction Gating, int Groups, int GroupsUsed, bool Normalize, float Scale)
{
    /// <summary>Smallest renormalising sum: ggml clamps it to F16's smallest normal.</summary>
    const float MinWeightSum = 6.103515625e-5f;

    /// <summary>Experts per group; the whole set when the router has no groups.</summary>
    public int GroupSize => Groups > 1 ? Experts / Groups : Experts;

    /// <summary>Checks the shape against llama.cpp's own asserts; throws <see cref="ModelLoadException"/> with the reason.</summary>
    public GroupLimitedRouter Validated()
    {
        if (K < 1 || K > Experts) throw new ModelLoadException($"expert_used_count = {K} must be in 1..expert_count ({Experts})");
        if (!Enum.IsDefined(Gating)) throw new ModelLoadException($"expert_gating_func = {(int)Gating} is not supported (1 softmax, 2 sigmoid)");
        if (Groups <= 1) return this;
        // Smaller than expert_count, so every group has the two experts its score is summed from.
        if (Experts % Groups != 0 || Groups >= Experts)
            throw new ModelLoadException($"expert_group_count = {Groups} must divide expert_count = {Experts} and be smaller");
        if (GroupsUsed < 1 || GroupsUsed >= Groups)
            throw new ModelLoadException($"expert_group_used_count = {GroupsUsed} must be in 1..{Groups - 1}");
        if (GroupsUsed * GroupSize < K)
            throw new ModelLoadException($"{GroupsUsed} groups of {GroupSize} experts cannot hold expert_used_count = {K}");
        return this;
    }

    /// <summary>
    /// logits: [tokens, Experts], overwritten with the probabilities; bias: [Experts] or empty; scores: scratch of at
    /// least Experts + Groups values; ids, weights: [tokens, K], best first.
    /// </summary>
    public void Select(Span<float> logits, int tokens, ReadOnlySpan<float> bias, Span<float> scores, Span<int> ids, Span<float> weights)
    {
        Debug.Assert(logits.Length >= tokens * Experts && ids.Length >= tokens * K && weights.Length >= tokens * K);
        Debug.Assert(bias.IsEmpty || bias.Length == Experts);
        var selection = scores[..Experts];
        var groupScores = scores.Slice(Experts, Math.Max(Groups, 1));
        Span<int> best = stackalloc int[2];
        Span<int> kept = stackalloc int[Groups > 1 ? GroupsUsed : 1];
        for (int t = 0; t < tokens; t++)
        {
            var probs = logits.Slice(t * Experts, Experts);
            if (Gating == GatingFunction.Softmax) Router.Softmax(probs);
            else for (int e = 0; e < Experts; e++) probs[e] = 1f / (1f + MathF.Exp(-probs[e]));

            probs.CopyTo(selection);
            for (int e = 0; e < bias.Length; e++) selection[e] += bias[e];
            if (Groups > 1) KeepBestGroups(selection, groupScores, best, kept);

            var rowIds = ids.Slice(t * K, K);
            var rowWeights = weights.Slice(t * K, K);
            Router.TopK(selection, rowIds);
            double sum = 0;
            for (int j = 0; j < K; j++)
            {
                rowWeights[j] = probs[rowIds[j]];
                sum += rowWeights[j];
            }
            if (Normalize)
            {
                float norm = Math.Max((float)sum, MinWeightSum);
                for (int j = 0; j < K; j++) rowWeights[j] /= norm;
            }
            if (Scale != 0f && Scale != 1f)
                for (int j = 0; j < K; j++) rowWeights[j] *= Scale;
        }
    }

    /// <summary>Sets the selection score of every expert outside the <see cref="GroupsUsed"/> best groups to −∞.</summary>
    void KeepBestGroups(Span<float> selection, Span<float> groupScores, Span<int> best, Span<int> kept)
    {
        int size = GroupSize;
        for (int g = 0; g < Groups; g++)
        {
            var group = selection.Slice(g * size, size);
            Router.TopK(group, best);
            groupScores[g] = group[best[0]] + group[best[1]];
        }
        Router.TopK(groupScores, kept);
        for (int g = 0; g < Groups; g++)
            if (!kept.Contains(g)) selection.Slice(g * size, size).Fill(float.NegativeInfinity);
    }
}

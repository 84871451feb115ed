using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// Turns router logits into each position's chosen experts and mixing weights. Mixtral-style gating
/// (<see cref="SoftmaxTopK"/>): softmax over all experts, take the k most probable, then divide their probabilities
/// by their sum. gpt-oss gating (<see cref="TopKSoftmax"/>): take the k largest logits, then softmax over those k.
/// </summary>
public static class Router
{
    /// <summary>Smallest renormalising sum; ggml clamps it so a degenerate router cannot divide by zero.</summary>
    const float MinWeightSum = 6.103515625e-5f;

    /// <summary>
    /// logits: [tokens, experts] (overwritten with probabilities); ids, weights: [tokens, k], best first.
    /// </summary>
    public static void SoftmaxTopK(Span<float> logits, int tokens, int experts, int k, bool renormalize, Span<int> ids, Span<float> weights)
    {
        Debug.Assert(logits.Length >= tokens * experts && ids.Length >= tokens * k && weights.Length >= tokens * k);
        for (int t = 0; t < tokens; t++)
        {
            var probs = logits.Slice(t * experts, experts);
            Softmax(probs);
            var rowIds = ids.Slice(t * k, k);
            var rowWeights = weights.Slice(t * k, k);
            TopK(probs, rowIds);
            double sum = 0;
            for (int j = 0; j < k; j++)
            {
                rowWeights[j] = probs[rowIds[j]];
                sum += rowWeights[j];
            }
            if (!renormalize) continue;
            float norm = Math.Max((float)sum, MinWeightSum);
            for (int j = 0; j < k; j++) rowWeights[j] /= norm;
        }
    }

    /// <summary>
    /// logits: [tokens, experts] (left as they are); ids, weights: [tokens, k], best first, the weights a softmax over
    /// the k chosen logits (llama.cpp's SOFTMAX_WEIGHT gating).
    /// </summary>
    public static void TopKSoftmax(ReadOnlySpan<float> logits, int tokens, int experts, int k, Span<int> ids, Span<float> weights)
    {
        Debug.Assert(logits.Length >= tokens * experts && ids.Length >= tokens * k && weights.Length >= tokens * k);
        for (int t = 0; t < tokens; t++)
        {
            var row = logits.Slice(t * experts, experts);
            var rowIds = ids.Slice(t * k, k);
            var rowWeights = weights.Slice(t * k, k);
            TopK(row, rowIds);
            for (int j = 0; j < k; j++) rowWeights[j] = row[rowIds[j]];
            Softmax(rowWeights);
        }
    }

    /// <summary>In-place softmax with ggml's numerics: max-shifted expf, the sum accumulated in double.</summary>
    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        float scale = (float)(1.0 / sum);
        for (int i = 0; i < x.Length; i++) x[i] *= scale;
    }

    /// <summary>Indices of the ids.Length largest scores, largest first; equal scores go to the lower index.</summary>
    public static void TopK(ReadOnlySpan<float> scores, Span<int> ids)
    {
        int k = ids.Length;
        int filled = 0;
        for (int e = 0; e < scores.Length; e++)
        {
            float s = scores[e];
            if (filled == k && !(s > scores[ids[k - 1]])) continue;
            int pos = filled < k ? filled++ : k - 1;
            while (pos > 0 && s > scores[ids[pos - 1]])
            {
                ids[pos] = ids[pos - 1];
                pos--;
            }
            ids[pos] = e;
        }
    }
}

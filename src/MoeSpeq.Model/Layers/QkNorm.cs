namespace MoeSpeq.Model.Layers;

/// <summary>
/// RMSNorm of the query and key projections before RoPE. The norm's width says its extent: a weight of one head's
/// width normalises every head on its own (Qwen3's <c>attn_q_norm</c> of key_length), a weight as wide as the whole
/// projection normalises each position's projection at once, before the head split (OLMoE's, n_embd wide).
/// </summary>
public static class QkNorm
{
    /// <summary>q: [n, heads·headDim], k: [n, kvHeads·headDim], normalised in place in rows of their weight's width.</summary>
    public static void Apply(Span<float> q, Span<float> k, float[] qNorm, float[] kNorm, float eps)
    {
        RmsNorm.ApplyRows(q, qNorm, q, q.Length / qNorm.Length, eps);
        RmsNorm.ApplyRows(k, kNorm, k, k.Length / kNorm.Length, eps);
    }
}

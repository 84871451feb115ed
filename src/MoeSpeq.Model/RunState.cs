using MoeSpeq.Model.Layers;

namespace MoeSpeq.Model;

/// <summary>
/// Everything one sequence mutates during a forward pass, allocated once for a maximum batch: the residual stream,
/// per-layer scratch, routing buffers and the KV cache. A decode step reuses all of it and allocates nothing.
/// </summary>
public sealed class RunState
{
    public RunState(ModelConfig c, int contextLength, int maxBatch)
    {
        if (contextLength <= 0) throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "context must be positive");
        if (maxBatch <= 0) throw new ArgumentOutOfRangeException(nameof(maxBatch), maxBatch, "batch must be positive");
        MaxBatch = maxBatch;
        int b = maxBatch, k = Math.Max(c.ExpertUsedCount, 1);
        int ffn = Math.Max(Math.Max(c.FeedForwardLength, c.SharedExpertFeedForwardLength), 1);
        Residual = new float[b * c.EmbeddingLength];
        Normed = new float[b * c.EmbeddingLength];
        Query = new float[b * c.QueryWidth];
        Key = new float[b * c.KeyWidth];
        Value = new float[b * c.ValueWidth];
        AttentionOut = new float[b * c.HeadCount * c.ValueLength];
        Projected = new float[b * c.EmbeddingLength];
        FfnGate = new float[b * ffn];
        FfnUp = new float[b * ffn];
        SharedOut = c.SharedExpertFeedForwardLength > 0 ? new float[b * c.EmbeddingLength] : [];
        SharedGate = c.SharedExpertFeedForwardLength > 0 ? new float[b] : [];
        RouterLogits = new float[b * Math.Max(c.ExpertCount, 1)];
        ExpertIds = new int[b * k];
        ExpertWeights = new float[b * k];
        RopeCos = new float[b * c.RopeDimensionCount / 2];
        RopeSin = new float[b * c.RopeDimensionCount / 2];
        Logits = new float[b * c.VocabSize];
        Cache = new KvCache(c.BlockCount, contextLength, c.KeyWidth, c.ValueWidth, c.ValuesInKeys);
    }

    public int MaxBatch { get; }
    public int ContextLength => Cache.Capacity;

    /// <summary>Positions already in the KV cache; the next token goes at this position.</summary>
    public int Position { get; set; }

    public float[] Residual { get; }      // [batch, dim]
    public float[] Normed { get; }        // [batch, dim]
    public float[] Query { get; }         // [batch, heads·keyLength]
    public float[] Key { get; }           // [batch, kvHeads·keyLength]
    public float[] Value { get; }         // [batch, kvHeads·valueLength]
    public float[] AttentionOut { get; }  // [batch, heads·valueLength]
    public float[] Projected { get; }     // [batch, dim]
    public float[] FfnGate { get; }       // [batch, ffn], ffn the wider of the dense and the shared-expert FFN
    public float[] FfnUp { get; }         // [batch, ffn]
    public float[] SharedOut { get; }     // [batch, dim]: the shared expert's output, when the model has one
    public float[] SharedGate { get; }    // [batch]: its gate logits
    public float[] RouterLogits { get; }  // [batch, experts]
    public int[] ExpertIds { get; }       // [batch, k]
    public float[] ExpertWeights { get; } // [batch, k]
    public float[] RopeCos { get; }       // [batch, ropeDims/2]
    public float[] RopeSin { get; }       // [batch, ropeDims/2]
    public float[] Logits { get; }        // [batch, vocab]
    public KvCache Cache { get; }
    public CausalAttention Attention { get; } = new();
}

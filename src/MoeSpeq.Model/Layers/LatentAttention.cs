using System.Diagnostics;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// One layer's multi-head latent attention weights (DeepSeek-V2, arXiv 2405.04434 §2.1) in llama.cpp's absorbed
/// layout, and the products that move between the per-head and the latent (compressed) spaces.
/// Per head a query is [nope | rope] wide; keys and values of every head are recovered from one shared latent
/// vector c (kvRank wide) by k_nope = K_b·c and v = V_b·c, so q_nopeᵀ·k_nope = (K_bᵀ·q_nope)ᵀ·c: the query is
/// "absorbed" into the latent space instead of the keys being decompressed, and V_b is applied once to the
/// attention-weighted sum of c rather than to every cached position.
/// </summary>
/// <param name="Q">[heads·(nope+rope), dim]: the query projection of a model without q compression (V2-Lite), else null.</param>
/// <param name="QA">[qRank, dim]: q-LoRA down-projection (V3), else null.</param>
/// <param name="QANorm">[qRank]: RMSNorm between the q-LoRA projections.</param>
/// <param name="QB">[heads·(nope+rope), qRank]: q-LoRA up-projection.</param>
/// <param name="KvA">[kvRank + rope, dim]: the latent kv and the rope key shared by all heads, in that order.</param>
/// <param name="KvANorm">[kvRank]: RMSNorm of the latent kv.</param>
/// <param name="KB">Per head [kvRank, nope]: maps a head's q_nope into the latent space (K_bᵀ).</param>
/// <param name="VB">Per head [valueHead, kvRank]: decompresses a head's attention output.</param>
/// <param name="Output">[dim, heads·valueHead].</param>
public sealed record LatentAttention(
    WeightMatrix? Q, WeightMatrix? QA, float[]? QANorm, WeightMatrix? QB,
    WeightMatrix KvA, float[] KvANorm, WeightMatrix[] KB, WeightMatrix[] VB, WeightMatrix Output)
{
    /// <summary>
    /// Loads <paramref name="layer"/>'s tensors: <c>attn_q</c> when present, else <c>attn_q_a</c>, <c>attn_q_a_norm</c>
    /// and <c>attn_q_b</c>; then <c>attn_kv_a_mqa</c>, <c>attn_kv_a_norm</c>, <c>attn_k_b</c>, <c>attn_v_b</c>, <c>attn_output</c>.
    /// </summary>
    public static LatentAttention Load(ModelWeights w, int layer, int dim, int heads, int qRank, int kvRank, int nope, int rope, int valueHead)
    {
        int qWidth = heads * (nope + rope);
        bool compressed = !w.Has(TensorId.AttnQ, layer);
        if (compressed && qRank <= 0)
            throw new ModelLoadException($"blk.{layer} has no attn_q and attention.q_lora_rank is {qRank}: no query projection");
        return new LatentAttention(
            compressed ? null : w.Matrix(TensorId.AttnQ, layer, dim, qWidth),
            compressed ? w.Matrix(TensorId.AttnQA, layer, dim, qRank) : null,
            compressed ? w.Vector(TensorId.AttnQANorm, layer, qRank) : null,
            compressed ? w.Matrix(TensorId.AttnQB, layer, qRank, qWidth) : null,
            w.Matrix(TensorId.AttnKvAMqa, layer, dim, kvRank + rope),
            w.Vector(TensorId.AttnKvANorm, layer, kvRank),
            w.MatrixSlices(TensorId.AttnKB, layer, nope, kvRank, heads),
            w.MatrixSlices(TensorId.AttnVB, layer, kvRank, valueHead, heads),
            w.Matrix(TensorId.AttnOutput, layer, heads * valueHead, dim));
    }

    /// <summary>
    /// q[n, heads·(nope+rope)] = Q·x, or QB·RmsNorm(QA·x) with q-LoRA; loraScratch holds n·qRank values.
    /// </summary>
    public void Query(MatMul matMul, ReadOnlySpan<float> x, int n, float eps, Span<float> loraScratch, Span<float> q)
    {
        if (Q is { } wq)
        {
            matMul.Multiply(wq, x, q, n);
            return;
        }
        var qa = loraScratch[..(n * QA!.Value.Rows)]; // [n, qRank]
        matMul.Multiply(QA.Value, x, qa, n);
        RmsNorm.ApplyRows(qa, QANorm, qa, n, eps);
        matMul.Multiply(QB!.Value, qa, q, n);
    }

    /// <summary>
    /// y[t, h, 0..rows) = heads[h] · x[t, h, 0..cols) for every position t and head h: x is [n, heads, xHead] (only the
    /// first cols of each head are read), y is [n, heads, yHead] (only the first rows of each head are written).
    /// gather holds n·heads·cols values; all heads go to the pool in one run.
    /// </summary>
    public static unsafe void PerHead(MatMul matMul, WeightMatrix[] heads, ReadOnlySpan<float> x, int n, int xHead,
        Span<float> gather, Span<float> y, int yHead)
    {
        int count = heads.Length, cols = heads[0].Cols;
        Debug.Assert(x.Length >= n * count * xHead && y.Length >= n * count * yHead && gather.Length >= n * count * cols);
        Debug.Assert(cols <= xHead && heads[0].Rows <= yHead);
        fixed (float* pg = gather, py = y)
        {
            for (int h = 0; h < count; h++)
            {
                // The matmul reads contiguous rows: a head's slices of every position, one after another.
                var rows = gather.Slice(h * n * cols, n * cols); // [n, cols]
                for (int t = 0; t < n; t++) x.Slice((t * count + h) * xHead, cols).CopyTo(rows.Slice(t * cols, cols));
                matMul.Enqueue(heads[h], pg + h * n * cols, n, py + h * yHead, count * yHead);
            }
            matMul.RunQueued();
        }
    }
}

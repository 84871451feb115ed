using System.Numerics.Tensors;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Architectures;

/// <summary>
/// llama.cpp's <c>qwen3moe</c> architecture (Qwen3-30B-A3B, Qwen3-235B-A22B): pre-norm blocks with RMSNorm,
/// grouped-query attention whose heads are <c>attention.key_length</c> wide (not necessarily n_embd / n_head), each
/// query and key head RMS-normalised (<c>attn_q_norm</c>, <c>attn_k_norm</c> of head width) before RoPE with NEOX
/// pairing, and in every layer a mixture of experts: softmax → top-k → renormalised. The output matrix is the token
/// embedding when the file has no <c>output.weight</c>.
/// </summary>
public sealed class Qwen3MoeModel : LanguageModel
{
    sealed record Layer(
        float[] AttnNorm, WeightMatrix Wq, float[]? Bq, WeightMatrix Wk, float[]? Bk, WeightMatrix Wv, float[]? Bv,
        float[] QNorm, float[] KNorm, WeightMatrix Wo, float[] FfnNorm, WeightMatrix Router);

    readonly WeightMatrix _tokenEmbedding; // [vocab, dim]
    readonly float[] _outputNorm;          // [dim]
    readonly WeightMatrix _output;         // [vocab, dim]; the embedding itself when tied
    readonly Layer[] _layers;
    readonly Rope _rope;
    readonly IExpertExecutor _experts;

    Qwen3MoeModel(GgufFile file, ModelConfig c, ModelOptions options) : base(file, c, options)
    {
        try
        {
            var w = Weights;
            int dim = c.EmbeddingLength;
            _tokenEmbedding = w.Matrix(TensorId.TokenEmbedding, -1, dim, c.VocabSize);
            _outputNorm = w.Vector(TensorId.OutputNorm, -1, dim);
            _output = w.Has(TensorId.Output) ? w.Matrix(TensorId.Output, -1, dim, c.VocabSize) : _tokenEmbedding;
            _rope = c.CreateRope();

            _layers = new Layer[c.BlockCount];
            var experts = new ExpertWeights[c.BlockCount][];
            for (int l = 0; l < c.BlockCount; l++)
            {
                experts[l] = ExpertWeights.LoadLayer(w, l, dim, c.ExpertFeedForwardLength, c.ExpertCount);
                _layers[l] = new Layer(
                    w.Vector(TensorId.AttnNorm, l, dim),
                    w.Matrix(TensorId.AttnQ, l, dim, c.QueryWidth), w.OptionalBias(TensorId.AttnQ, l, c.QueryWidth),
                    w.Matrix(TensorId.AttnK, l, dim, c.KeyWidth), w.OptionalBias(TensorId.AttnK, l, c.KeyWidth),
                    w.Matrix(TensorId.AttnV, l, dim, c.ValueWidth), w.OptionalBias(TensorId.AttnV, l, c.ValueWidth),
                    w.Vector(TensorId.AttnQNorm, l, c.KeyLength),
                    w.Vector(TensorId.AttnKNorm, l, c.KeyLength),
                    w.Matrix(TensorId.AttnOutput, l, c.HeadCount * c.ValueLength, dim),
                    w.Vector(TensorId.FfnNorm, l, dim),
                    w.Matrix(TensorId.FfnRouter, l, dim, c.ExpertCount));
                options.Progress?.Invoke(l + 1, c.BlockCount);
            }
            w.FinishLoading();
            _experts = InstallExperts(experts, [.. _layers.Select(L => new RouterPreview.Layer(L.FfnNorm, L.Router))]);
        }
        catch
        {
            ReleaseAfterFailedLoad();
            throw;
        }
    }

    public static LanguageModel Load(GgufFile file, ModelOptions options)
    {
        var c = ModelConfig.FromGguf(file.Header, RopeMode.Neox);
        if (!c.IsMoe) throw new ModelLoadException($"{c.Architecture}.expert_count is missing: every {c.Architecture} layer routes experts");
        // llama.cpp's expert width when the file gives none: n_ff / n_expert_used.
        if (file.Header.GetInt($"{c.Architecture}.expert_feed_forward_length") is null)
            c = c with { ExpertFeedForwardLength = c.FeedForwardLength / c.ExpertUsedCount };
        return new Qwen3MoeModel(file, c, options);
    }

    protected override void Forward(RunState s, ReadOnlySpan<int> tokens, int pos0, int logitRows)
    {
        var c = Config;
        int n = tokens.Length, dim = c.EmbeddingLength, kw = c.KeyWidth, vw = c.ValueWidth, k = c.ExpertUsedCount;
        float eps = c.RmsNormEps, kqScale = 1f / MathF.Sqrt(c.KeyLength);
        var x = s.Residual.AsSpan(0, n * dim);        // [n, dim] residual stream
        var xn = s.Normed.AsSpan(0, n * dim);         // [n, dim] normalised input of a block
        var q = s.Query.AsSpan(0, n * c.QueryWidth);  // [n, heads·headDim]
        var attn = s.AttentionOut.AsSpan(0, n * c.HeadCount * c.ValueLength);
        var proj = s.Projected.AsSpan(0, n * dim);    // [n, dim] block output before the residual add
        var logits = s.RouterLogits.AsSpan(0, n * c.ExpertCount); // [n, experts]
        var ids = s.ExpertIds.AsSpan(0, n * k);                   // [n, k]
        var weights = s.ExpertWeights.AsSpan(0, n * k);           // [n, k]

        EmbedTokens(_tokenEmbedding, tokens, x);
        int half = _rope.Dims / 2;
        _rope.Angles(pos0, n, s.RopeCos, s.RopeSin);

        for (int l = 0; l < c.BlockCount; l++)
        {
            var L = _layers[l];
            var keys = s.Cache.Keys(l);                              // [ctx, kvHeads·headDim]
            var values = s.Cache.Values(l);                          // [ctx, kvHeads·valueDim]
            var newKeys = keys.Slice(pos0 * kw, n * kw);             // this batch's rows of the cache
            var newValues = values.Slice(pos0 * vw, n * vw);

            // Attention block: x += Wo · attention(rope(norm_q(Wq·xn)), rope(norm_k(Wk·xn)), Wv·xn), norms per head
            RmsNorm.ApplyRows(x, L.AttnNorm, xn, n, eps);
            MatMul.MultiplyEach(xn, n, L.Wq, q, L.Wk, newKeys, L.Wv, newValues);
            Bias.AddRows(q, L.Bq, n);
            Bias.AddRows(newKeys, L.Bk, n);
            Bias.AddRows(newValues, L.Bv, n);
            QkNorm.Apply(q, newKeys, L.QNorm, L.KNorm, eps);
            for (int t = 0; t < n; t++)
            {
                var cos = s.RopeCos.AsSpan(t * half, half);
                var sin = s.RopeSin.AsSpan(t * half, half);
                _rope.Apply(q.Slice(t * c.QueryWidth, c.QueryWidth), c.KeyLength, cos, sin);
                _rope.Apply(newKeys.Slice(t * kw, kw), c.KeyLength, cos, sin);
            }
            s.Attention.Compute(Pool, q, keys, values, attn, n, pos0, c.HeadCount, c.HeadCountKv, c.KeyLength, c.ValueLength, kqScale);
            Sink?.Record("attn_out", l, attn);
            MatMul.Multiply(L.Wo, attn, proj, n);
            TensorPrimitives.Add(x, proj, x);

            // Feed-forward block: x += Σ_j p_j · Expert_j(xn), p the top-k probabilities renormalised to sum 1
            RmsNorm.ApplyRows(x, L.FfnNorm, xn, n, eps);
            MatMul.Multiply(L.Router, xn, logits, n);
            Router.SoftmaxTopK(logits, n, c.ExpertCount, k, renormalize: true, ids, weights);
            _experts.Forward(l, x, xn, ids, weights, n, k, proj);
            Sink?.Record("ffn_out", l, proj);
            TensorPrimitives.Add(x, proj, x);
        }

        OutputHead(s, x, xn, n, logitRows, _outputNorm, _output);
    }
}

using System.Numerics.Tensors;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Architectures;

/// <summary>
/// llama.cpp's <c>llama</c> architecture: pre-norm decoder blocks with RMSNorm, RoPE (NORM pairing), grouped-query
/// attention and a SwiGLU feed-forward that is either dense or a Mixtral-style mixture of experts
/// (stacked <c>ffn_{gate,up,down}_exps</c> or, in a repacked file, <c>ffn_{gate,up,down}.E</c> per expert; router
/// <c>ffn_gate_inp</c>; softmax → top-k → renormalise).
/// </summary>
public sealed class LlamaModel : LanguageModel
{
    sealed record Layer(
        float[] AttnNorm, WeightMatrix Wq, WeightMatrix Wk, WeightMatrix Wv, WeightMatrix Wo,
        float[] FfnNorm, WeightMatrix? Router, FeedForward? Dense);

    readonly WeightMatrix _tokenEmbedding; // [vocab, dim]
    readonly float[] _outputNorm;          // [dim]
    readonly WeightMatrix _output;         // [vocab, dim]; the embedding itself when tied
    readonly Layer[] _layers;
    readonly Rope _rope;
    readonly IExpertExecutor? _experts;

    LlamaModel(GgufFile file, ModelConfig c, ModelOptions options) : base(file, c, options)
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
                bool moe = w.Has(TensorId.FfnRouter, l);
                if (moe && !c.IsMoe) throw new ModelLoadException($"blk.{l} has a router but {c.Architecture}.expert_count is missing");
                int ffn = moe ? c.ExpertFeedForwardLength : c.FeedForwardLength;
                experts[l] = moe
                    ? ExpertWeights.LoadLayer(w, l, dim, ffn, c.ExpertCount)
                    : [];
                _layers[l] = new Layer(
                    w.Vector(TensorId.AttnNorm, l, dim),
                    w.Matrix(TensorId.AttnQ, l, dim, c.QueryWidth),
                    w.Matrix(TensorId.AttnK, l, dim, c.KeyWidth),
                    w.Matrix(TensorId.AttnV, l, dim, c.ValueWidth),
                    w.Matrix(TensorId.AttnOutput, l, c.HeadCount * c.ValueLength, dim),
                    w.Vector(TensorId.FfnNorm, l, dim),
                    moe ? w.Matrix(TensorId.FfnRouter, l, dim, c.ExpertCount) : null,
                    moe ? null : FeedForward.Load(w, l, dim, ffn, TensorId.FfnGate, TensorId.FfnUp, TensorId.FfnDown));
                options.Progress?.Invoke(l + 1, c.BlockCount);
            }
            w.FinishLoading();
            if (c.IsMoe)
            {
                _experts = InstallExperts(experts, [.. _layers.Select(L => L.Router is { } r ? new RouterPreview.Layer(L.FfnNorm, r) : null)]);
            }
        }
        catch
        {
            ReleaseAfterFailedLoad();
            throw;
        }
    }

    public static LanguageModel Load(GgufFile file, ModelOptions options) =>
        new LlamaModel(file, ModelConfig.FromGguf(file.Header, RopeMode.Norm), options);

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

            // Attention block: x += Wo · attention(rope(Wq·xn), rope(Wk·xn), Wv·xn)
            RmsNorm.ApplyRows(x, L.AttnNorm, xn, n, eps);
            MatMul.MultiplyEach(xn, n, L.Wq, q, L.Wk, newKeys, L.Wv, newValues);
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

            // Feed-forward block: x += FFN(xn), routed through the experts in MoE layers
            RmsNorm.ApplyRows(x, L.FfnNorm, xn, n, eps);
            if (L.Router is { } router)
            {
                var logits = s.RouterLogits.AsSpan(0, n * c.ExpertCount); // [n, experts]
                var ids = s.ExpertIds.AsSpan(0, n * k);                   // [n, k]
                var weights = s.ExpertWeights.AsSpan(0, n * k);           // [n, k]
                MatMul.Multiply(router, xn, logits, n);
                Router.SoftmaxTopK(logits, n, c.ExpertCount, k, renormalize: true, ids, weights);
                _experts!.Forward(l, x, xn, ids, weights, n, k, proj);
            }
            else L.Dense!.Apply(MatMul, xn, n, s.FfnGate, s.FfnUp, proj);
            Sink?.Record("ffn_out", l, proj);
            TensorPrimitives.Add(x, proj, x);
        }

        OutputHead(s, x, xn, n, logitRows, _outputNorm, _output);
    }
}

using System.Numerics.Tensors;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Architectures;

/// <summary>
/// llama.cpp's <c>phimoe</c> architecture (Phi-3.5-MoE), which runs the <c>phi3</c> graph (src/models/phi3.cpp):
/// <list type="bullet">
/// <item>attention, FFN and output norms are <b>RMSNorm with weight and bias</b> (<c>LLM_NORM_RMS</c> with
/// <c>attn_norm_b</c> …). Hugging Face's PhiMoE uses a mean-subtracted LayerNorm there; llama.cpp does not, and its
/// logits are the reference here;</item>
/// <item>Q/K/V, attention-output and output biases;</item>
/// <item>RoPE NEOX with LongRoPE frequency divisors (one model-wide pair, <c>rope_factors_short/long</c>) and
/// cos/sin scaled by <c>rope.scaling.attn_factor</c> (folded into <see cref="ModelConfig.RopeAttentionFactor"/>);</item>
/// <item>Q scaled by 1/√head_dim after RoPE, attention then unscaled;</item>
/// <item>routing softmax → top-k → renormalise (llama.cpp's <c>build_moe_ffn</c> with
/// <c>LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX</c>, <c>norm_w = true</c>), not Phi-3.5's sparsemixer.</item>
/// </list>
/// <para>
/// LongRoPE factor choice: llama.cpp takes <c>rope_factors_long</c> when the context of a sequence exceeds
/// <c>rope.scaling.original_context_length</c>, else <c>rope_factors_short</c> (<c>llama_model::get_rope_factors</c>).
/// Here the context is the <see cref="RunState"/>'s, the one the caller asked for (<c>--ctx-size</c>; by default the
/// model's, at most 4096), so a state of 4096 positions or fewer uses the short factors and a longer one the long
/// factors for every position, as llama.cpp would with that <c>n_ctx</c>. The golden logits were made with n_ctx 256:
/// short factors.
/// </para>
/// </summary>
public sealed class PhiMoeModel : LanguageModel
{
    sealed record Layer(
        float[] AttnNorm, float[] AttnNormBias,
        WeightMatrix Wq, float[] Bq, WeightMatrix Wk, float[] Bk, WeightMatrix Wv, float[] Bv,
        WeightMatrix Wo, float[] Bo,
        float[] FfnNorm, float[] FfnNormBias, WeightMatrix Router);

    readonly WeightMatrix _tokenEmbedding; // [vocab, dim]
    readonly float[] _outputNorm;          // [dim]
    readonly float[] _outputNormBias;      // [dim]
    readonly WeightMatrix _output;         // [vocab, dim]
    readonly float[] _outputBias;          // [vocab]
    readonly Layer[] _layers;
    readonly Rope _ropeShort;              // contexts ≤ rope.scaling.original_context_length
    readonly Rope _ropeLong;               // longer contexts
    readonly IExpertExecutor _experts;

    PhiMoeModel(GgufFile file, ModelConfig c, ModelOptions options) : base(file, c, options)
    {
        try
        {
            if (!c.IsMoe) throw new ModelLoadException("phimoe needs phimoe.expert_count: every layer routes experts");
            if (c.KeyLength != c.ValueLength)
                throw new ModelLoadException($"phimoe needs equal key and value head widths, got {c.KeyLength} and {c.ValueLength}");
            var w = Weights;
            int dim = c.EmbeddingLength, ffn = c.ExpertFeedForwardLength;
            _tokenEmbedding = w.Matrix(TensorId.TokenEmbedding, -1, dim, c.VocabSize);
            _outputNorm = w.Vector(TensorId.OutputNorm, -1, dim);
            _outputNormBias = w.Bias(TensorId.OutputNorm, -1, dim);
            _output = w.Matrix(TensorId.Output, -1, dim, c.VocabSize);
            _outputBias = w.Bias(TensorId.Output, -1, c.VocabSize);

            // Optional in llama.cpp (without them RoPE is plain); one pair serves every layer.
            int pairs = c.RopeDimensionCount / 2;
            var ropeShort = w.OptionalVector(TensorId.RopeFactorsShort, -1, pairs);
            var ropeLong = w.OptionalVector(TensorId.RopeFactorsLong, -1, pairs);
            _ropeShort = c.CreateRope(ropeShort);
            _ropeLong = c.CreateRope(ropeLong);

            _layers = new Layer[c.BlockCount];
            var experts = new ExpertWeights[c.BlockCount][];
            for (int l = 0; l < c.BlockCount; l++)
            {
                experts[l] = [.. w.ExpertMatrices(TensorId.FfnGateExperts, l, dim, ffn, c.ExpertCount)
                    .Zip(w.ExpertMatrices(TensorId.FfnUpExperts, l, dim, ffn, c.ExpertCount),
                         w.ExpertMatrices(TensorId.FfnDownExperts, l, ffn, dim, c.ExpertCount))
                    .Select(e => new ExpertWeights(e.First, e.Second, e.Third))];
                _layers[l] = new Layer(
                    w.Vector(TensorId.AttnNorm, l, dim), w.Bias(TensorId.AttnNorm, l, dim),
                    w.Matrix(TensorId.AttnQ, l, dim, c.QueryWidth), w.Bias(TensorId.AttnQ, l, c.QueryWidth),
                    w.Matrix(TensorId.AttnK, l, dim, c.KeyWidth), w.Bias(TensorId.AttnK, l, c.KeyWidth),
                    w.Matrix(TensorId.AttnV, l, dim, c.ValueWidth), w.Bias(TensorId.AttnV, l, c.ValueWidth),
                    w.Matrix(TensorId.AttnOutput, l, c.HeadCount * c.ValueLength, dim), w.Bias(TensorId.AttnOutput, l, dim),
                    w.Vector(TensorId.FfnNorm, l, dim), w.Bias(TensorId.FfnNorm, l, dim),
                    w.Matrix(TensorId.FfnRouter, l, dim, c.ExpertCount));
                options.Progress?.Invoke(l + 1, c.BlockCount);
            }
            w.FinishLoading();
            _experts = InstallExperts(experts, [.. _layers.Select(L => new RouterPreview.Layer(L.FfnNorm, L.Router, L.FfnNormBias))]);
        }
        catch
        {
            ReleaseAfterFailedLoad();
            throw;
        }
    }

    public static LanguageModel Load(GgufFile file, ModelOptions options) =>
        new PhiMoeModel(file, ModelConfig.FromGguf(file.Header, RopeMode.Neox), options);

    /// <summary>RMSNorm, then the norm's bias: llama.cpp's <c>build_norm(…, LLM_NORM_RMS)</c> with a bias tensor.</summary>
    static void NormRows(ReadOnlySpan<float> x, float[] weight, float[] bias, Span<float> dst, int rows, float eps)
    {
        RmsNorm.ApplyRows(x, weight, dst, rows, eps);
        Bias.AddRows(dst, bias, rows);
    }

    protected override void Forward(RunState s, ReadOnlySpan<int> tokens, int pos0, int logitRows)
    {
        var c = Config;
        int n = tokens.Length, dim = c.EmbeddingLength, qw = c.QueryWidth, kw = c.KeyWidth, vw = c.ValueWidth, k = c.ExpertUsedCount;
        float eps = c.RmsNormEps, qScale = 1f / MathF.Sqrt(c.KeyLength);
        var x = s.Residual.AsSpan(0, n * dim);        // [n, dim] residual stream
        var xn = s.Normed.AsSpan(0, n * dim);         // [n, dim] normalised input of a block
        var q = s.Query.AsSpan(0, n * qw);            // [n, heads·headDim]
        var attn = s.AttentionOut.AsSpan(0, n * c.HeadCount * c.ValueLength);
        var proj = s.Projected.AsSpan(0, n * dim);    // [n, dim] block output before the residual add

        EmbedTokens(_tokenEmbedding, tokens, x);
        // LongRoPE: the factors follow the context this state was created for (see the class remarks).
        var rope = s.ContextLength > c.RopeOriginalContext ? _ropeLong : _ropeShort;
        int half = rope.Dims / 2;
        rope.Angles(pos0, n, s.RopeCos, s.RopeSin);

        for (int l = 0; l < c.BlockCount; l++)
        {
            var L = _layers[l];
            var keys = s.Cache.Keys(l);                              // [ctx, kvHeads·headDim]
            var values = s.Cache.Values(l);                          // [ctx, kvHeads·valueDim]
            var newKeys = keys.Slice(pos0 * kw, n * kw);             // this batch's rows of the cache
            var newValues = values.Slice(pos0 * vw, n * vw);

            // Attention block: x += Wo · attention(rope(Wq·xn + bq) / √d, rope(Wk·xn + bk), Wv·xn + bv) + bo
            NormRows(x, L.AttnNorm, L.AttnNormBias, xn, n, eps);
            MatMul.MultiplyEach(xn, n, L.Wq, q, L.Wk, newKeys, L.Wv, newValues);
            Bias.AddRows(q, L.Bq, n);
            Bias.AddRows(newKeys, L.Bk, n);
            Bias.AddRows(newValues, L.Bv, n);
            for (int t = 0; t < n; t++)
            {
                var cos = s.RopeCos.AsSpan(t * half, half);
                var sin = s.RopeSin.AsSpan(t * half, half);
                rope.Apply(q.Slice(t * qw, qw), c.KeyLength, cos, sin);
                rope.Apply(newKeys.Slice(t * kw, kw), c.KeyLength, cos, sin);
            }
            // llama.cpp scales Q itself and attends with kq_scale 1; scaling the scores instead rounds differently.
            TensorPrimitives.Multiply(q, qScale, q);
            s.Attention.Compute(Pool, q, keys, values, attn, n, pos0, c.HeadCount, c.HeadCountKv, c.KeyLength, c.ValueLength, 1f);
            Sink?.Record("attn_out", l, attn);
            MatMul.Multiply(L.Wo, attn, proj, n);
            Bias.AddRows(proj, L.Bo, n);
            TensorPrimitives.Add(x, proj, x);

            // MoE block: x += Σ_k weight_k · expert_k(xn)
            NormRows(x, L.FfnNorm, L.FfnNormBias, xn, n, eps);
            var logits = s.RouterLogits.AsSpan(0, n * c.ExpertCount); // [n, experts]
            var ids = s.ExpertIds.AsSpan(0, n * k);                   // [n, k]
            var weights = s.ExpertWeights.AsSpan(0, n * k);           // [n, k]
            MatMul.Multiply(L.Router, xn, logits, n);
            Router.SoftmaxTopK(logits, n, c.ExpertCount, k, renormalize: true, ids, weights);
            _experts.Forward(l, x, xn, ids, weights, n, k, proj);
            Sink?.Record("ffn_out", l, proj);
            TensorPrimitives.Add(x, proj, x);
        }

        OutputHead(s, x, xn, n, logitRows, _outputNorm, _output, _outputNormBias, _outputBias);
    }
}

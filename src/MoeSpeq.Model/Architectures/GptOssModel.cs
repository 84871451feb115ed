using System.Numerics.Tensors;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Architectures;

/// <summary>
/// llama.cpp's <c>gpt-oss</c> architecture (OpenAI's open-weight MoE): pre-norm decoder blocks with RMSNorm, YaRN RoPE
/// (NEOX pairing), grouped-query attention with biases on Q/K/V/O and a learned sink logit per head, sliding-window
/// attention on some layers (every even one by default) and full attention on the others; the norm after attention
/// (<c>post_attention_norm</c>) feeds a biased router whose k largest logits are softmaxed into the mixing weights,
/// and experts with biased gate/up/down products joined by the clamped SwiGLU (<see cref="SwiGluOai"/>).
/// </summary>
public sealed class GptOssModel : LanguageModel
{
    /// <summary>
    /// gpt-oss keys beyond <see cref="ModelConfig"/>: <c>attention.sliding_window</c> (positions a sliding layer sees),
    /// <c>attention.sliding_window_pattern</c> (period of the layer pattern, 2 when absent) and
    /// <c>rope.freq_base_swa</c> (the sliding layers' RoPE base, the model's own when absent).
    /// </summary>
    sealed record GptOssConfig(int SlidingWindow, int SwaPeriod, float SwaFreqBase)
    {
        public static GptOssConfig FromGguf(GgufHeader h, ModelConfig c)
        {
            string arch = c.Architecture;
            long window = h.GetInt($"{arch}.attention.sliding_window") ?? throw new ModelLoadException($"{arch}.attention.sliding_window is missing");
            if (window is <= 0 or > int.MaxValue) throw new ModelLoadException($"{arch}.attention.sliding_window = {window} must be positive");
            if (h.GetArray($"{arch}.attention.sliding_window_pattern") is not null)
                throw new ModelLoadException($"{arch}.attention.sliding_window_pattern as a per-layer array is not supported; give a period");
            long period = h.GetInt($"{arch}.attention.sliding_window_pattern") ?? 2;
            if (period is < 0 or > int.MaxValue) throw new ModelLoadException($"{arch}.attention.sliding_window_pattern = {period} is out of range");
            float swaBase = (float)(h.GetDouble($"{arch}.rope.freq_base_swa") ?? c.RopeFreqBase);
            return new GptOssConfig((int)window, (int)period, swaBase);
        }

        /// <summary>llama.cpp's pattern: of every <see cref="SwaPeriod"/> layers all but the last slide (a period of 0: all do).</summary>
        public bool IsSliding(int layer) => SwaPeriod == 0 || layer % SwaPeriod < SwaPeriod - 1;
    }

    sealed record Layer(
        float[] AttnNorm, WeightMatrix Wq, float[]? Bq, WeightMatrix Wk, float[]? Bk, WeightMatrix Wv, float[]? Bv,
        WeightMatrix Wo, float[] Bo, float[] Sinks, int Window,
        float[] FfnNorm, WeightMatrix Router, float[] RouterBias);

    readonly WeightMatrix _tokenEmbedding; // [vocab, dim]
    readonly float[] _outputNorm;          // [dim]
    readonly WeightMatrix _output;         // [vocab, dim]
    readonly Layer[] _layers;
    readonly Rope _rope;                   // full-attention layers
    readonly Rope _slidingRope;            // sliding layers: the same object unless rope.freq_base_swa differs
    readonly IExpertExecutor _experts;
    float[] _slidingCos = [], _slidingSin = []; // [batch, ropeDims/2], used only when the two ropes differ

    GptOssModel(GgufFile file, ModelConfig c, ModelOptions options) : base(file, c, options)
    {
        try
        {
            if (!c.IsMoe) throw new ModelLoadException($"{c.Architecture}.expert_count is missing: gpt-oss routes every layer's FFN to experts");
            // llama.cpp sizes the heads by the rotary width (n_rot) in this architecture.
            if (c.KeyLength != c.RopeDimensionCount || c.ValueLength != c.RopeDimensionCount)
                throw new ModelLoadException($"{c.Architecture}: key/value head widths ({c.KeyLength}/{c.ValueLength}) must equal rope.dimension_count ({c.RopeDimensionCount})");
            var hp = GptOssConfig.FromGguf(file.Header, c);
            var w = Weights;
            int dim = c.EmbeddingLength, ffn = c.ExpertFeedForwardLength, experts = c.ExpertCount;
            _tokenEmbedding = w.Matrix(TensorId.TokenEmbedding, -1, dim, c.VocabSize);
            _outputNorm = w.Vector(TensorId.OutputNorm, -1, dim);
            _output = w.Matrix(TensorId.Output, -1, dim, c.VocabSize);
            _rope = c.CreateRope();
            _slidingRope = hp.SwaFreqBase == c.RopeFreqBase ? _rope : (c with { RopeFreqBase = hp.SwaFreqBase }).CreateRope();

            _layers = new Layer[c.BlockCount];
            var expertWeights = new ExpertWeights[c.BlockCount][];
            for (int l = 0; l < c.BlockCount; l++)
            {
                expertWeights[l] = LoadExperts(w, l, dim, ffn, experts);
                _layers[l] = new Layer(
                    w.Vector(TensorId.AttnNorm, l, dim),
                    w.Matrix(TensorId.AttnQ, l, dim, c.QueryWidth), w.OptionalBias(TensorId.AttnQ, l, c.QueryWidth),
                    w.Matrix(TensorId.AttnK, l, dim, c.KeyWidth), w.OptionalBias(TensorId.AttnK, l, c.KeyWidth),
                    w.Matrix(TensorId.AttnV, l, dim, c.ValueWidth), w.OptionalBias(TensorId.AttnV, l, c.ValueWidth),
                    w.Matrix(TensorId.AttnOutput, l, c.HeadCount * c.ValueLength, dim), w.Bias(TensorId.AttnOutput, l, dim),
                    w.Vector(TensorId.AttnSinks, l, c.HeadCount),
                    hp.IsSliding(l) ? hp.SlidingWindow : 0,
                    w.Vector(TensorId.PostAttentionNorm, l, dim),
                    w.Matrix(TensorId.FfnRouter, l, dim, experts), w.Bias(TensorId.FfnRouter, l, experts));
                options.Progress?.Invoke(l + 1, c.BlockCount);
            }
            w.FinishLoading();
            _experts = InstallExperts(expertWeights, [.. _layers.Select(L => new RouterPreview.Layer(L.FfnNorm, L.Router, Bias: L.RouterBias))], ExpertActivation.SwiGluOai);
        }
        catch
        {
            ReleaseAfterFailedLoad();
            throw;
        }
    }

    public static LanguageModel Load(GgufFile file, ModelOptions options) =>
        new GptOssModel(file, ModelConfig.FromGguf(file.Header, RopeMode.Neox), options);

    /// <summary>A layer's experts: the stacked (or per-expert) matrices, each with its slice of the stacked biases.</summary>
    static ExpertWeights[] LoadExperts(ModelWeights w, int layer, int dim, int ffn, int experts)
    {
        var matrices = ExpertWeights.LoadLayer(w, layer, dim, ffn, experts);
        var gateBias = w.ExpertBiases(TensorId.FfnGateExperts, layer, ffn, experts);
        var upBias = w.ExpertBiases(TensorId.FfnUpExperts, layer, ffn, experts);
        var downBias = w.ExpertBiases(TensorId.FfnDownExperts, layer, dim, experts);
        return [.. matrices.Select((m, e) => m with { Bias = new ExpertBias(gateBias[e], upBias[e], downBias[e]) })];
    }

    protected override void Forward(RunState s, ReadOnlySpan<int> tokens, int pos0, int logitRows)
    {
        var c = Config;
        int n = tokens.Length, dim = c.EmbeddingLength, kw = c.KeyWidth, vw = c.ValueWidth, k = c.ExpertUsedCount;
        float eps = c.RmsNormEps, kqScale = 1f / MathF.Sqrt(c.RopeDimensionCount);
        var x = s.Residual.AsSpan(0, n * dim);        // [n, dim] residual stream
        var xn = s.Normed.AsSpan(0, n * dim);         // [n, dim] normalised input of a block
        var q = s.Query.AsSpan(0, n * c.QueryWidth);  // [n, heads·headDim]
        var attn = s.AttentionOut.AsSpan(0, n * c.HeadCount * c.ValueLength);
        var proj = s.Projected.AsSpan(0, n * dim);    // [n, dim] block output before the residual add

        EmbedTokens(_tokenEmbedding, tokens, x);
        int half = _rope.Dims / 2;
        var cos = s.RopeCos.AsSpan(0, n * half); // [n, ropeDims/2]
        var sin = s.RopeSin.AsSpan(0, n * half);
        _rope.Angles(pos0, n, cos, sin);
        Span<float> slidingCos = cos, slidingSin = sin;
        if (_slidingRope != _rope)
        {
            if (_slidingCos.Length < n * half)
            {
                _slidingCos = new float[s.MaxBatch * half];
                _slidingSin = new float[s.MaxBatch * half];
            }
            slidingCos = _slidingCos.AsSpan(0, n * half);
            slidingSin = _slidingSin.AsSpan(0, n * half);
            _slidingRope.Angles(pos0, n, slidingCos, slidingSin);
        }

        for (int l = 0; l < c.BlockCount; l++)
        {
            var L = _layers[l];
            var keys = s.Cache.Keys(l);                              // [ctx, kvHeads·headDim]
            var values = s.Cache.Values(l);                          // [ctx, kvHeads·valueDim]
            var newKeys = keys.Slice(pos0 * kw, n * kw);             // this batch's rows of the cache
            var newValues = values.Slice(pos0 * vw, n * vw);
            bool sliding = L.Window > 0;
            var rope = sliding ? _slidingRope : _rope;
            var layerCos = sliding ? slidingCos : cos;
            var layerSin = sliding ? slidingSin : sin;

            // Attention block: x += Wo · attention(rope(Wq·xn + bq), rope(Wk·xn + bk), Wv·xn + bv) + bo, over the
            // last Window positions in a sliding layer, with each head's sink logit in its softmax.
            RmsNorm.ApplyRows(x, L.AttnNorm, xn, n, eps);
            MatMul.MultiplyEach(xn, n, L.Wq, q, L.Wk, newKeys, L.Wv, newValues);
            Bias.AddRows(q, L.Bq, n);
            Bias.AddRows(newKeys, L.Bk, n);
            Bias.AddRows(newValues, L.Bv, n);
            for (int t = 0; t < n; t++)
            {
                var tCos = layerCos.Slice(t * half, half);
                var tSin = layerSin.Slice(t * half, half);
                rope.Apply(q.Slice(t * c.QueryWidth, c.QueryWidth), c.KeyLength, tCos, tSin);
                rope.Apply(newKeys.Slice(t * kw, kw), c.KeyLength, tCos, tSin);
            }
            s.Attention.Compute(Pool, q, keys, values, attn, n, pos0, c.HeadCount, c.HeadCountKv, c.KeyLength, c.ValueLength, kqScale, L.Sinks, L.Window);
            Sink?.Record("attn_out", l, attn);
            MatMul.Multiply(L.Wo, attn, proj, n);
            Bias.AddRows(proj, L.Bo, n);
            TensorPrimitives.Add(x, proj, x);

            // Expert block: x += Σ_j w_j · Expert_j(xn), the k largest biased router logits softmaxed into w.
            RmsNorm.ApplyRows(x, L.FfnNorm, xn, n, eps);
            var logits = s.RouterLogits.AsSpan(0, n * c.ExpertCount); // [n, experts]
            var ids = s.ExpertIds.AsSpan(0, n * k);                   // [n, k]
            var weights = s.ExpertWeights.AsSpan(0, n * k);           // [n, k]
            MatMul.Multiply(L.Router, xn, logits, n);
            Bias.AddRows(logits, L.RouterBias, n);
            Router.TopKSoftmax(logits, n, c.ExpertCount, k, ids, weights);
            _experts.Forward(l, x, xn, ids, weights, n, k, proj);
            Sink?.Record("ffn_out", l, proj);
            TensorPrimitives.Add(x, proj, x);
        }

        OutputHead(s, x, xn, n, logitRows, _outputNorm, _output);
    }
}

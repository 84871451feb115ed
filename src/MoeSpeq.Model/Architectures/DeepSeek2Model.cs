using System.Numerics.Tensors;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Architectures;

/// <summary>
/// llama.cpp's <c>deepseek2</c> architecture (DeepSeek-V2, V2-Lite, V3 and their derivatives): RMSNorm pre-norm blocks
/// with multi-head latent attention (MLA), a dense SwiGLU FFN in the first <c>leading_dense_block_count</c> layers and
/// a mixture of experts after them: routed experts chosen by <see cref="GroupLimitedRouter"/> (softmax or sigmoid
/// gating, V3's selection bias, group-limited choice, renormalise, scale) beside always-on shared experts.
/// </summary>
/// <remarks>
/// <para>
/// Attention runs the absorbed MLA path (see <see cref="LatentAttention"/>): the KV cache holds, per position, only
/// the normalised latent kv (kv_lora_rank) and the rope key shared by every head, as one KV head of
/// <c>attention.key_length</c> = kv_lora_rank + rope dims. The values (<c>attention.value_length</c> = kv_lora_rank)
/// are the latent kv again, so attention reads them as the leading columns of each key row, as llama.cpp views its K
/// cache (<see cref="ModelConfig.ValuesInKeys"/>), and no value cache exists.
/// Decompressing keys and values per head instead would cache heads·(key_length_mla + value_length_mla) floats a
/// position (V3: 128·(192 + 128) = 40960 against 576), and llama.cpp itself runs this absorbed path on files in
/// this layout, so computing the same products in the same order keeps the logits equal to its.
/// </para>
/// <para>
/// Query heads are [latent | rope] wide, as llama.cpp concatenates them: q_nope is mapped into the latent space by
/// attn_k_b, q_pe and k_pe are rotated over the rope dims (NORM pairing), and the softmax scale is
/// mscale² / sqrt(key_length_mla) with YaRN's mscale as llama.cpp's deepseek2 graph computes it.
/// </para>
/// </remarks>
public sealed class DeepSeek2Model : LanguageModel
{
    /// <summary>The <c>deepseek2.*</c> keys beyond <see cref="ModelConfig"/>, named after them.</summary>
    public sealed record Parameters(
        int LeadingDenseBlockCount, int QLoraRank, int KvLoraRank, int KeyLengthMla, int ValueLengthMla,
        int ExpertSharedCount, float ExpertWeightsScale, bool ExpertWeightsNorm, GatingFunction ExpertGatingFunc,
        int ExpertGroupCount, int ExpertGroupUsedCount, int NextnPredictLayers)
    {
        public static Parameters FromGguf(GgufHeader h, ModelConfig c)
        {
            string a = c.Architecture;
            int Int(string key) => h.GetInt($"{a}.{key}") switch
            {
                null => 0,
                long v when v is >= 0 and <= 1 << 24 => (int)v,
                long v => throw new ModelLoadException($"{a}.{key} = {v} is out of range"),
            };
            int keyMla = Int("attention.key_length_mla"), valueMla = Int("attention.value_length_mla");
            if (keyMla <= 0 || valueMla <= 0)
                throw new ModelLoadException($"{a}.attention.key_length_mla / value_length_mla are missing: only MLA files (attn_k_b, attn_v_b) are supported, not the legacy attn_kv_b layout");
            // Old V2/V2.5 files have no gating key and mean softmax; llama.cpp makes GLM-4.7-Flash's (47/48 layers,
            // 154880 tokens) sigmoid.
            int gating = Int("expert_gating_func");
            if (gating == 0) gating = c.BlockCount is 47 or 48 && c.VocabSize == 154880 ? 2 : 1;
            if (h.GetDouble($"{a}.attention.temperature_scale") is double temperature && temperature != 0)
                throw new ModelLoadException($"{a}.attention.temperature_scale (attention temperature tuning) is not supported");
            return new Parameters(
                Int("leading_dense_block_count"), Int("attention.q_lora_rank"), Int("attention.kv_lora_rank"), keyMla, valueMla,
                Int("expert_shared_count"), (float)(h.GetDouble($"{a}.expert_weights_scale") ?? 0),
                h.GetBool($"{a}.expert_weights_norm") ?? false, (GatingFunction)gating,
                Int("expert_group_count"), Int("expert_group_used_count"), Int("nextn_predict_layers"));
        }

        /// <summary>The part of a query head that attn_k_b absorbs: key_length_mla less the rope dims.</summary>
        public int NopeLength(ModelConfig c) => KeyLengthMla - c.RopeDimensionCount;
    }

    sealed record Layer(float[] AttnNorm, LatentAttention Attn, float[] FfnNorm,
        FeedForward? Dense, WeightMatrix? Router, float[] SelectionBias, FeedForward? Shared);

    readonly Parameters _p;
    readonly WeightMatrix _tokenEmbedding; // [vocab, dim]
    readonly float[] _outputNorm;          // [dim]
    readonly WeightMatrix _output;         // [vocab, dim]; the embedding itself when tied
    readonly Layer[] _layers;              // the trunk: NextN (multi-token prediction) layers are not run
    readonly Rope _rope;
    readonly float _kqScale;
    readonly GroupLimitedRouter? _router;
    readonly IExpertExecutor? _experts;

    // Scratch of one forward pass (a model runs one at a time), [Options.MaxBatch, …].
    readonly float[] _qHeads;    // [batch, heads·(nope+rope)] the query before absorption
    readonly float[] _qLora;     // [batch, qRank]
    readonly float[] _gather;    // [heads, batch, max(nope, kvRank)] per-head rows for a matmul
    readonly float[] _vHeads;    // [batch, heads·valueLengthMla] decompressed attention output
    readonly float[] _sharedGate, _sharedUp, _sharedOut; // [batch, sharedWidth] ×2, [batch, dim]
    readonly float[] _routerScratch; // [experts + groups]

    DeepSeek2Model(GgufFile file, ModelConfig c, ModelOptions options) : base(file, c, options)
    {
        try
        {
            var p = _p = Parameters.FromGguf(file.Header, c);
            var w = Weights;
            int dim = c.EmbeddingLength, heads = c.HeadCount, rope = c.RopeDimensionCount, nope = p.NopeLength(c);
            if (p.KvLoraRank <= 0 || c.HeadCountKv != 1 || c.KeyLength != p.KvLoraRank + rope || c.ValueLength != p.KvLoraRank || nope <= 0)
                throw new ModelLoadException($"{c.Architecture}: expected MLA's one latent KV head (head_count_kv 1, key_length = kv_lora_rank + rope dims = {p.KvLoraRank + rope}, value_length = kv_lora_rank = {p.KvLoraRank}, key_length_mla > rope dims), got head_count_kv {c.HeadCountKv}, key_length {c.KeyLength}, value_length {c.ValueLength}, key_length_mla {p.KeyLengthMla}");
            _tokenEmbedding = w.Matrix(TensorId.TokenEmbedding, -1, dim, c.VocabSize);
            _outputNorm = w.Vector(TensorId.OutputNorm, -1, dim);
            _output = w.Has(TensorId.Output) ? w.Matrix(TensorId.Output, -1, dim, c.VocabSize) : _tokenEmbedding;
            _rope = c.CreateRope();

            // llama.cpp folds YaRN's magnitude into the softmax scale: undo the context's cancellation of the rope
            // kernel's correction to recover the configured attention factor, then multiply in
            // mscale(factor, yarn_log_multiplier), whose stored value the converter divided by 10.
            float logFactor = MathF.Log(1f / c.RopeFreqScale);
            float mscale = c.RopeAttentionFactor * (1f + 0.1f * logFactor) * (1f + 0.1f * (c.YarnLogMultiplier / 0.1f) * logFactor);
            _kqScale = mscale * mscale / MathF.Sqrt(p.KeyLengthMla);

            if (c.IsMoe)
                _router = new GroupLimitedRouter(c.ExpertCount, c.ExpertUsedCount, p.ExpertGatingFunc, p.ExpertGroupCount,
                    p.ExpertGroupUsedCount, p.ExpertWeightsNorm, p.ExpertWeightsScale).Validated();
            int sharedWidth = c.ExpertFeedForwardLength * p.ExpertSharedCount;
            int trunk = c.BlockCount - p.NextnPredictLayers;
            if (trunk <= 0) throw new ModelLoadException($"{c.Architecture}.nextn_predict_layers = {p.NextnPredictLayers} leaves no layers of {c.BlockCount}");
            _layers = new Layer[trunk];
            var experts = new ExpertWeights[c.BlockCount][];
            for (int l = 0; l < c.BlockCount; l++)
            {
                experts[l] = [];
                if (l >= trunk) continue;
                bool moe = l >= p.LeadingDenseBlockCount;
                if (moe && _router is null) throw new ModelLoadException($"blk.{l} is past leading_dense_block_count = {p.LeadingDenseBlockCount} but {c.Architecture}.expert_count is missing");
                int ffn = c.ExpertFeedForwardLength;
                if (moe)
                    experts[l] = ExpertWeights.LoadLayer(w, l, dim, ffn, c.ExpertCount);
                _layers[l] = new Layer(
                    w.Vector(TensorId.AttnNorm, l, dim),
                    LatentAttention.Load(w, l, dim, heads, p.QLoraRank, p.KvLoraRank, nope, rope, p.ValueLengthMla),
                    w.Vector(TensorId.FfnNorm, l, dim),
                    moe ? null : FeedForward.Load(w, l, dim, c.FeedForwardLength, TensorId.FfnGate, TensorId.FfnUp, TensorId.FfnDown),
                    moe ? w.Matrix(TensorId.FfnRouter, l, dim, c.ExpertCount) : null,
                    moe ? w.OptionalBias(TensorId.ExpertProbabilityBias, l, c.ExpertCount) ?? [] : [],
                    moe ? FeedForward.Load(w, l, dim, sharedWidth, TensorId.FfnGateShared, TensorId.FfnUpShared, TensorId.FfnDownShared) : null);
                options.Progress?.Invoke(l + 1, trunk);
            }
            w.FinishLoading();

            int b = options.MaxBatch;
            _qHeads = new float[b * heads * p.KeyLengthMla];
            _qLora = new float[b * Math.Max(p.QLoraRank, 0)];
            _gather = new float[b * heads * Math.Max(nope, p.KvLoraRank)];
            _vHeads = new float[b * heads * p.ValueLengthMla];
            _sharedGate = new float[b * sharedWidth];
            _sharedUp = new float[b * sharedWidth];
            _sharedOut = new float[b * dim];
            _routerScratch = new float[c.ExpertCount + Math.Max(p.ExpertGroupCount, 1)];

            if (c.IsMoe)
            {
                // Previews need only the norm and router: they forecast which experts, not their weights.
                _experts = InstallExperts(experts, [.. Enumerable.Range(0, c.BlockCount).Select(l => l < trunk && _layers[l].Router is { } r ? new RouterPreview.Layer(_layers[l].FfnNorm, r) : null)]);
            }
        }
        catch
        {
            ReleaseAfterFailedLoad();
            throw;
        }
    }

    public static LanguageModel Load(GgufFile file, ModelOptions options) =>
        new DeepSeek2Model(file, ModelConfig.FromGguf(file.Header, RopeMode.Norm) with { ValuesInKeys = true }, options);

    protected override void Forward(RunState s, ReadOnlySpan<int> tokens, int pos0, int logitRows)
    {
        var c = Config;
        int n = tokens.Length, dim = c.EmbeddingLength, heads = c.HeadCount, k = c.ExpertUsedCount;
        int kw = c.KeyWidth, latent = _p.KvLoraRank, ropeDims = c.RopeDimensionCount;
        int qHead = _p.KeyLengthMla, nope = qHead - ropeDims, vHead = _p.ValueLengthMla;
        float eps = c.RmsNormEps;
        var x = s.Residual.AsSpan(0, n * dim);             // [n, dim] residual stream
        var xn = s.Normed.AsSpan(0, n * dim);              // [n, dim] normalised input of a block
        var qh = _qHeads.AsSpan(0, n * heads * qHead);     // [n, heads, nope | rope]
        var q = s.Query.AsSpan(0, n * c.QueryWidth);       // [n, heads, latent | rope] absorbed query
        var attn = s.AttentionOut.AsSpan(0, n * heads * c.ValueLength); // [n, heads, latent]
        var vh = _vHeads.AsSpan(0, n * heads * vHead);     // [n, heads, valueLengthMla]
        var proj = s.Projected.AsSpan(0, n * dim);         // [n, dim] block output before the residual add

        EmbedTokens(_tokenEmbedding, tokens, x);
        int half = ropeDims / 2;
        _rope.Angles(pos0, n, s.RopeCos, s.RopeSin);

        for (int l = 0; l < _layers.Length; l++)
        {
            var L = _layers[l];
            var A = L.Attn;
            var keys = s.Cache.Keys(l);                     // [ctx, latent | rope]
            var newKeys = keys.Slice(pos0 * kw, n * kw);    // this batch's rows of the cache; values are their latent kv

            // Attention block: x += Wo · V_b(attention(absorbed q, [latent kv | rope k], latent kv))
            RmsNorm.ApplyRows(x, L.AttnNorm, xn, n, eps);
            A.Query(MatMul, xn, n, eps, _qLora, qh);
            LatentAttention.PerHead(MatMul, A.KB, qh, n, qHead, _gather, q, c.KeyLength); // q[t, h, :latent] = K_bᵀ·q_nope
            MatMul.Multiply(A.KvA, xn, newKeys, n);                                          // [n, latent | rope]
            for (int t = 0; t < n; t++)
            {
                var cos = s.RopeCos.AsSpan(t * half, half);
                var sin = s.RopeSin.AsSpan(t * half, half);
                for (int h = 0; h < heads; h++)
                {
                    var qPe = q.Slice((t * heads + h) * c.KeyLength + latent, ropeDims);
                    qh.Slice((t * heads + h) * qHead + nope, ropeDims).CopyTo(qPe);
                    _rope.Apply(qPe, ropeDims, cos, sin);
                }
                var kvLatent = newKeys.Slice(t * kw, latent);
                RmsNorm.Apply(kvLatent, A.KvANorm, kvLatent, eps);
                _rope.Apply(newKeys.Slice(t * kw + latent, ropeDims), ropeDims, cos, sin);
            }
            // Values are the latent kv at the head of each key row: Load set Config.ValuesInKeys, so the cache has no value rows.
            s.Attention.Compute(Pool, q, keys, keys, attn, n, pos0, heads, 1, c.KeyLength, c.ValueLength, _kqScale, valuesInKeys: true);
            LatentAttention.PerHead(MatMul, A.VB, attn, n, latent, _gather, vh, vHead);   // v[t, h] = V_b·o[t, h]
            Sink?.Record("attn_out", l, vh);
            MatMul.Multiply(A.Output, vh, proj, n);
            TensorPrimitives.Add(x, proj, x);

            // Feed-forward block: x += FFN(xn) in the leading dense layers, else routed experts + shared experts
            RmsNorm.ApplyRows(x, L.FfnNorm, xn, n, eps);
            if (L.Router is { } router)
            {
                var logits = s.RouterLogits.AsSpan(0, n * c.ExpertCount); // [n, experts]
                var ids = s.ExpertIds.AsSpan(0, n * k);                   // [n, k]
                var weights = s.ExpertWeights.AsSpan(0, n * k);           // [n, k]
                MatMul.Multiply(router, xn, logits, n);
                _router!.Select(logits, n, L.SelectionBias, _routerScratch, ids, weights);
                _experts!.Forward(l, x, xn, ids, weights, n, k, proj);
                Sink?.Record("ffn_moe_out", l, proj);
                var shared = _sharedOut.AsSpan(0, n * dim);               // [n, dim]
                L.Shared!.Apply(MatMul, xn, n, _sharedGate, _sharedUp, shared);
                TensorPrimitives.Add(proj, shared, proj);
            }
            else L.Dense!.Apply(MatMul, xn, n, s.FfnGate, s.FfnUp, proj);
            Sink?.Record("ffn_out", l, proj);
            TensorPrimitives.Add(x, proj, x);
        }

        OutputHead(s, x, xn, n, logitRows, _outputNorm, _output);
    }
}

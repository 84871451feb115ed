using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Tools;

/// <summary>
/// Writes a random-weight GGUF with a <see cref="ModelPreset"/>'s true shapes, in the layout llama.cpp's converter
/// gives that architecture, so that offloading benchmarks move real per-expert byte sizes. The layer count may be
/// cut. Matrix rows are drawn from a pool of quantized random rows per tensor: a multi-gigabyte file is then written
/// at disk speed instead of quantizing every row, and the values stay varied enough for routing and attention to
/// behave like a random model's.
/// </summary>
public static class PresetModelWriter
{
    /// <summary>Distinct random rows per tensor.</summary>
    const int PoolRows = 256;

    enum Init { Random, Ones, Small, RopeFactors }

    sealed record Plan(string Name, long[] Dims, GgmlType Type, int FanIn, Init Init);

    public static void Write(ModelPreset p, string path, int? layers = null, GgmlType? expertType = null, ulong seed = 1, Action<int, int>? progress = null)
    {
        int nLayers = layers ?? p.Layers;
        if (nLayers <= 0 || nLayers > p.Layers) throw new ArgumentException($"--layers {nLayers} must be in 1..{p.Layers} for {p.Name}");
        if (nLayers <= p.LeadingDenseLayers) throw new ArgumentException($"--layers {nLayers} leaves no MoE layer: {p.Name} starts with {p.LeadingDenseLayers} dense layers");
        var experts = expertType ?? p.ExpertType;
        if (experts != GgmlType.MXFP4 && !ModelQuantizer.TargetTypes.Contains(experts) && experts != GgmlType.F32)
            throw new ArgumentException($"--type {experts} is not a supported weight type");

        var w = new GgufWriter();
        string a = p.Architecture;
        w.Set("general.architecture", a);
        w.Set("general.name", nLayers == p.Layers ? p.Name : $"{p.Name}-{nLayers}-layers");
        w.Set("general.file_type", (uint)(experts == GgmlType.MXFP4 ? 38 : ModelQuantizer.FileType(experts)));
        Metadata(w, p, nLayers);
        RandomModelWriter.AddVocabulary(w, p.Vocab);

        var plan = Tensors(p, nLayers, experts);
        int done = 0;
        for (int i = 0; i < plan.Count; i++)
        {
            var t = plan[i];
            ulong stream = seed * 0x9E3779B97F4A7C15UL + (ulong)i;
            w.AddTensor(t.Name, t.Type, t.Dims, s =>
            {
                WritePooledRows(s, t, stream);
                progress?.Invoke(++done, plan.Count);
            });
        }
        w.WriteTo(path);
    }

    static void Metadata(GgufWriter w, ModelPreset p, int layers)
    {
        string a = p.Architecture;
        w.Set($"{a}.context_length", (uint)p.ContextLength);
        w.Set($"{a}.embedding_length", (uint)p.Dim);
        w.Set($"{a}.block_count", (uint)layers);
        w.Set($"{a}.feed_forward_length", (uint)(p.Ffn > 0 ? p.Ffn : p.ExpertFfn));
        w.Set($"{a}.attention.head_count", (uint)p.Heads);
        w.Set($"{a}.attention.head_count_kv", (uint)p.KvHeads);
        w.Set($"{a}.attention.layer_norm_rms_epsilon", p.NormEps);
        w.Set($"{a}.rope.freq_base", p.RopeTheta);
        w.Set($"{a}.expert_count", (uint)p.Experts);
        w.Set($"{a}.expert_used_count", (uint)p.ExpertsUsed);
        w.Set($"{a}.expert_feed_forward_length", (uint)p.ExpertFfn);
        if (p.KvLoraRank > 0)
        {
            // llama.cpp's MLA layout: the cache holds the compressed KV plus the shared rotary key, one "head".
            w.Set($"{a}.attention.q_lora_rank", (uint)p.QLoraRank);
            w.Set($"{a}.attention.kv_lora_rank", (uint)p.KvLoraRank);
            w.Set($"{a}.attention.key_length", (uint)(p.KvLoraRank + p.QkRopeHeadDim));
            w.Set($"{a}.attention.value_length", (uint)p.KvLoraRank);
            w.Set($"{a}.attention.key_length_mla", (uint)(p.QkNopeHeadDim + p.QkRopeHeadDim));
            w.Set($"{a}.attention.value_length_mla", (uint)p.VHeadDim);
            w.Set($"{a}.rope.dimension_count", (uint)p.QkRopeHeadDim);
            w.Set($"{a}.vocab_size", (uint)p.Vocab);
            w.Set($"{a}.leading_dense_block_count", (uint)p.LeadingDenseLayers);
            w.Set($"{a}.expert_shared_count", (uint)p.SharedExperts);
            w.Set($"{a}.expert_weights_scale", 1f);
            w.Set($"{a}.expert_weights_norm", p.NormalizeTopK);
            w.Set($"{a}.expert_gating_func", 1u);
        }
        else
        {
            if (p.HeadDim > 0)
            {
                w.Set($"{a}.attention.key_length", (uint)p.HeadDim);
                w.Set($"{a}.attention.value_length", (uint)p.HeadDim);
            }
            w.Set($"{a}.rope.dimension_count", (uint)p.HeadWidth);
        }
        if (p.SharedExpertFfn > 0) w.Set($"{a}.expert_shared_feed_forward_length", (uint)p.SharedExpertFfn);
        if (p.SlidingWindow > 0) w.Set($"{a}.attention.sliding_window", (uint)p.SlidingWindow);
        if (p.RopeScaling is { } scaling)
        {
            w.Set($"{a}.rope.scaling.type", scaling);
            w.Set($"{a}.rope.scaling.factor", p.RopeScalingFactor);
        }
        if (p.RopeOriginalContext > 0) w.Set($"{a}.rope.scaling.original_context_length", (uint)p.RopeOriginalContext);
        if (p.YarnLogMultiplier != 0) w.Set($"{a}.rope.scaling.yarn_log_multiplier", p.YarnLogMultiplier);
        if (p.RopeAttnFactor != 0) w.Set($"{a}.rope.scaling.attn_factor", p.RopeAttnFactor);
    }

    /// <summary>The architecture's tensors, named and shaped as llama.cpp's converter writes them (ne0 first).</summary>
    static List<Plan> Tensors(ModelPreset p, int layers, GgmlType expertType)
    {
        int dim = p.Dim, hd = p.HeadWidth, q = p.Heads * hd, kv = p.KvHeads * hd, e = p.Experts, f = p.ExpertFfn;
        string a = p.Architecture;
        bool biases = a is "qwen2moe" or "phimoe" or "gpt-oss";
        var t = new List<Plan>();
        void Matrix(string name, int cols, long rows, GgmlType type) => t.Add(new(name, [cols, rows], Fit(type, cols), cols, Init.Random));
        void Stacked(string name, int cols, int rows) => t.Add(new(name, [cols, rows, e], Fit(expertType, cols), cols, Init.Random));
        void Vector(string name, long length, Init init = Init.Ones) => t.Add(new(name, [length], GgmlType.F32, 1, init));

        Matrix("token_embd.weight", dim, p.Vocab, p.OtherType);
        if (p.LongRopeFactors)
        {
            Vector("rope_factors_short.weight", hd / 2, Init.RopeFactors);
            Vector("rope_factors_long.weight", hd / 2, Init.RopeFactors);
        }
        for (int l = 0; l < layers; l++)
        {
            string b = $"blk.{l}.";
            Vector(b + "attn_norm.weight", dim);
            if (a == "phimoe") Vector(b + "attn_norm.bias", dim, Init.Small);
            if (p.KvLoraRank > 0)
            {
                int qk = p.QkNopeHeadDim + p.QkRopeHeadDim;
                if (p.QLoraRank > 0)
                {
                    Matrix(b + "attn_q_a.weight", dim, p.QLoraRank, p.OtherType);
                    Vector(b + "attn_q_a_norm.weight", p.QLoraRank);
                    Matrix(b + "attn_q_b.weight", p.QLoraRank, p.Heads * qk, p.OtherType);
                }
                else Matrix(b + "attn_q.weight", dim, p.Heads * qk, p.OtherType);
                Matrix(b + "attn_kv_a_mqa.weight", dim, p.KvLoraRank + p.QkRopeHeadDim, p.OtherType);
                Vector(b + "attn_kv_a_norm.weight", p.KvLoraRank);
                t.Add(new(b + "attn_k_b.weight", [p.QkNopeHeadDim, p.KvLoraRank, p.Heads], Fit(p.OtherType, p.QkNopeHeadDim), p.QkNopeHeadDim, Init.Random));
                t.Add(new(b + "attn_v_b.weight", [p.KvLoraRank, p.VHeadDim, p.Heads], Fit(p.OtherType, p.KvLoraRank), p.KvLoraRank, Init.Random));
                Matrix(b + "attn_output.weight", p.Heads * p.VHeadDim, dim, p.OtherType);
            }
            else
            {
                Matrix(b + "attn_q.weight", dim, q, p.OtherType);
                Matrix(b + "attn_k.weight", dim, kv, p.OtherType);
                Matrix(b + "attn_v.weight", dim, kv, p.OtherType);
                if (biases)
                {
                    Vector(b + "attn_q.bias", q, Init.Small);
                    Vector(b + "attn_k.bias", kv, Init.Small);
                    Vector(b + "attn_v.bias", kv, Init.Small);
                }
                if (a == "qwen3moe")
                {
                    Vector(b + "attn_q_norm.weight", hd);
                    Vector(b + "attn_k_norm.weight", hd);
                }
                if (a == "olmoe")
                {
                    Vector(b + "attn_q_norm.weight", q);
                    Vector(b + "attn_k_norm.weight", kv);
                }
                Matrix(b + "attn_output.weight", q, dim, p.OtherType);
                if (a is "phimoe" or "gpt-oss") Vector(b + "attn_output.bias", dim, Init.Small);
                if (a == "gpt-oss") Vector(b + "attn_sinks.weight", p.Heads, Init.Small);
            }
            Vector(b + (a == "gpt-oss" ? "post_attention_norm.weight" : "ffn_norm.weight"), dim);
            if (a == "phimoe") Vector(b + "ffn_norm.bias", dim, Init.Small);

            if (l < p.LeadingDenseLayers)
            {
                Matrix(b + "ffn_gate.weight", dim, p.Ffn, p.OtherType);
                Matrix(b + "ffn_up.weight", dim, p.Ffn, p.OtherType);
                Matrix(b + "ffn_down.weight", p.Ffn, dim, p.OtherType);
                continue;
            }
            // Routers stay F32, as converters keep them.
            t.Add(new(b + "ffn_gate_inp.weight", [dim, e], GgmlType.F32, dim, Init.Random));
            if (a == "gpt-oss") Vector(b + "ffn_gate_inp.bias", e, Init.Small);
            Stacked(b + "ffn_gate_exps.weight", dim, f);
            Stacked(b + "ffn_up_exps.weight", dim, f);
            Stacked(b + "ffn_down_exps.weight", f, dim);
            if (a == "gpt-oss")
            {
                t.Add(new(b + "ffn_gate_exps.bias", [f, e], GgmlType.F32, 1, Init.Small));
                t.Add(new(b + "ffn_up_exps.bias", [f, e], GgmlType.F32, 1, Init.Small));
                t.Add(new(b + "ffn_down_exps.bias", [dim, e], GgmlType.F32, 1, Init.Small));
            }
            int shared = p.SharedExpertFfn > 0 ? p.SharedExpertFfn : p.SharedExperts * f;
            if (shared > 0)
            {
                if (p.SharedExpertFfn > 0) t.Add(new(b + "ffn_gate_inp_shexp.weight", [dim], GgmlType.F32, dim, Init.Random));
                Matrix(b + "ffn_gate_shexp.weight", dim, shared, p.OtherType);
                Matrix(b + "ffn_up_shexp.weight", dim, shared, p.OtherType);
                Matrix(b + "ffn_down_shexp.weight", shared, dim, p.OtherType);
            }
        }
        Vector("output_norm.weight", dim);
        if (a == "phimoe") Vector("output_norm.bias", dim, Init.Small);
        Matrix("output.weight", dim, p.Vocab, p.OtherType);
        if (a == "phimoe") Vector("output.bias", p.Vocab, Init.Small);
        return t;
    }

    /// <summary>
    /// <paramref name="type"/> when rows of <paramref name="cols"/> values fill its blocks, else the fallback llama.cpp's
    /// quantizer takes for such rows: Q8_0 (32-value blocks), or F16.
    /// </summary>
    static GgmlType Fit(GgmlType type, int cols) =>
        cols % GgmlTypeInfo.BlockSize(type) == 0 ? type : cols % 32 == 0 ? GgmlType.Q8_0 : GgmlType.F16;

    static void WritePooledRows(Stream s, Plan t, ulong stream)
    {
        int cols = (int)t.Dims[0];
        long rows = 1;
        for (int d = 1; d < t.Dims.Length; d++) rows *= t.Dims[d];
        int rowBytes = GgmlTypeInfo.RowBytes(t.Type, cols);
        if (t.Init != Init.Random)
        {
            var values = new float[cols * rows];
            ulong state = stream;
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = t.Init switch
                {
                    Init.Ones => 1f,
                    Init.Small => 0.02f * (2f * RandomModelWriter.NextUnit(ref state) - 1f),
                    _ => 1f + 3f * RandomModelWriter.NextUnit(ref state),
                };
            }
            var bytes = new byte[values.Length * 4];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            s.Write(bytes);
            return;
        }

        float amplitude = MathF.Sqrt(3f / t.FanIn);
        int poolSize = (int)Math.Min(PoolRows, rows);
        var pool = new byte[poolSize * rowBytes];
        Parallel.For(0, poolSize, () => new float[cols], (r, _, values) =>
        {
            ulong state = stream ^ (ulong)r * 0xD1B54A32D192ED03UL;
            for (int c = 0; c < cols; c++) values[c] = (2f * RandomModelWriter.NextUnit(ref state) - 1f) * amplitude;
            var row = pool.AsSpan(r * rowBytes, rowBytes);
            if (t.Type == GgmlType.MXFP4) RandomMxfp4Row(row, amplitude, ref state);
            else Quantize.Row(t.Type, values, row);
            return values;
        }, _ => { });

        // Rows in pseudo-random pool order, so neighbouring rows and experts differ.
        const int ChunkRows = 256;
        var chunk = new byte[ChunkRows * rowBytes];
        ulong pick = stream ^ 0x5851F42D4C957F2DUL;
        for (long start = 0; start < rows; start += ChunkRows)
        {
            int count = (int)Math.Min(ChunkRows, rows - start);
            for (int r = 0; r < count; r++)
            {
                int from = (int)(RandomModelWriter.NextUnit(ref pick) * poolSize);
                pool.AsSpan(from * rowBytes, rowBytes).CopyTo(chunk.AsSpan(r * rowBytes));
            }
            s.Write(chunk, 0, count * rowBytes);
        }
    }

    /// <summary>
    /// MXFP4 blocks of random 4-bit codes under one shared power-of-two scale chosen so that the largest code value
    /// (±6 in E2M1, stored doubled as ±12 with a halved E8M0 scale) spans about <paramref name="amplitude"/>.
    /// </summary>
    static void RandomMxfp4Row(Span<byte> row, float amplitude, ref ulong state)
    {
        const int BlockBytes = 17;
        byte exponent = (byte)Math.Clamp(128 + (int)MathF.Floor(MathF.Log2(amplitude / 12f)), 1, 254);
        for (int b = 0; b + BlockBytes <= row.Length; b += BlockBytes)
        {
            row[b] = exponent;
            for (int i = 1; i < BlockBytes; i++) row[b + i] = (byte)(RandomModelWriter.NextUnit(ref state) * 256);
        }
    }
}

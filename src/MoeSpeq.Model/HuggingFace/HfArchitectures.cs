using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Model.HuggingFace;

/// <summary>
/// One Hugging Face architecture (<c>architectures[0]</c> in config.json) as a converter to GGUF sees it: the GGUF
/// architecture it becomes, the metadata keys it derives from config.json and the tensor names it maps.
/// </summary>
public sealed record HfArchitecture(string HfName, string GgufName, string ModelType, HfKey[] Keys, HfTensor[] Tensors)
{
    /// <summary>transformers' default for <c>tie_word_embeddings</c> when config.json does not say.</summary>
    public bool TiedByDefault { get; init; }

    /// <summary>The key rows in effect: of rows for the same GGUF key, the last (an architecture's own rows override the common ones).</summary>
    public IEnumerable<HfKey> EffectiveKeys => Keys.Where((k, i) => k.Gguf.Length == 0 || !Keys.Skip(i + 1).Any(later => later.Gguf == k.Gguf));
}

/// <summary>
/// The name and layout table of the supported Hugging Face MoE architectures, after llama.cpp's convert_hf_to_gguf.py
/// and gguf-py's tensor_mapping.py (the facts; the code is this engine's). Reading a model directory applies it
/// forwards (<see cref="HfModelDirectory"/>); writing one applies it backwards (<see cref="HfDirectoryWriter"/>).
/// Experts stay one tensor per expert, as checkpoints store them (<c>blk.N.ffn_gate.E</c>, which the engine reads
/// as it reads a repacked GGUF file).
/// </summary>
public static class HfArchitectures
{
    const string Layer = "model.layers.{L}.";
    const GgufValueType Count = GgufValueType.UInt32, Real = GgufValueType.Float32, Flag = GgufValueType.Bool;

    /// <summary>Keys every converter writes (TextModel.set_gguf_parameters): counts, norms, RoPE base and scaling, MoE routing.</summary>
    static readonly HfKey[] Common =
    [
        new HfCopy("block_count", Count, "num_hidden_layers") { Required = true },
        new HfCopy("context_length", Count, "max_position_embeddings"),
        new HfCopy("embedding_length", Count, "hidden_size") { Required = true },
        new HfCopy("feed_forward_length", Count, "intermediate_size"),
        new HfCopy("attention.head_count", Count, "num_attention_heads") { Required = true },
        new HfCopy("attention.head_count_kv", Count, "num_key_value_heads"),
        new HfCopy("rope.freq_base", Real, "rope_theta", "rope_parameters.rope_theta"),
        new HfCopy("attention.layer_norm_rms_epsilon", Real, "rms_norm_eps"),
        new HfCopy("expert_count", Count, "num_local_experts", "num_experts", "n_routed_experts"),
        new HfCopy("expert_used_count", Count, "num_experts_per_tok"),
        new HfCopy("expert_group_count", Count, "n_group"),
        new HfCopy("expert_group_used_count", Count, "topk_group"),
        new HfMap("expert_gating_func", ["scoring_func"], [("softmax", U32(1)), ("sigmoid", U32(2))]),
        new HfCopy("attention.key_length", Count, "head_dim"),
        new HfCopy("attention.value_length", Count, "head_dim"),
        new HfMap("rope.scaling.type", ["rope_scaling.type", "rope_scaling.rope_type", "rope_parameters.rope_type"],
            [("linear", Str("linear")), ("yarn", Str("yarn")), ("longrope", Str("longrope")), ("su", Str("longrope")), ("default", null)]),
        new HfCopy("rope.scaling.factor", Real, "rope_scaling.factor", "rope_parameters.factor"),
        new HfCopy("rope.scaling.original_context_length", Count, "rope_scaling.original_max_position_embeddings", "rope_parameters.original_max_position_embeddings"),
        new HfCopy("rope.scaling.yarn_ext_factor", Real, "rope_scaling.extrapolation_factor", "rope_parameters.extrapolation_factor"),
        new HfCopy("rope.scaling.yarn_attn_factor", Real, "rope_scaling.attention_factor", "rope_scaling.attn_factor", "rope_parameters.attention_factor"),
        new HfCopy("rope.scaling.yarn_beta_fast", Real, "rope_scaling.beta_fast", "rope_parameters.beta_fast"),
        new HfCopy("rope.scaling.yarn_beta_slow", Real, "rope_scaling.beta_slow", "rope_parameters.beta_slow"),
    ];

    /// <summary>Attention, norms and embeddings named as llama's checkpoints name them (shared by every table here).</summary>
    static readonly HfTensor[] LlamaBody =
    [
        new(TensorId.TokenEmbedding, "model.embed_tokens.weight"),
        new(TensorId.OutputNorm, "model.norm.weight"),
        new(TensorId.Output, "lm_head.weight"),
        new(TensorId.AttnNorm, Layer + "input_layernorm.weight"),
        new(TensorId.AttnV, Layer + "self_attn.v_proj.weight"),
        new(TensorId.AttnOutput, Layer + "self_attn.o_proj.weight"),
        new(TensorId.FfnNorm, Layer + "post_attention_layernorm.weight"),
    ];

    static readonly HfTensor[] QwenExperts =
    [
        new(TensorId.FfnRouter, Layer + "mlp.gate.weight"),
        new(TensorId.FfnGateExpert, Layer + "mlp.experts.{E}.gate_proj.weight", HfTensorKind.Expert),
        new(TensorId.FfnUpExpert, Layer + "mlp.experts.{E}.up_proj.weight", HfTensorKind.Expert),
        new(TensorId.FfnDownExpert, Layer + "mlp.experts.{E}.down_proj.weight", HfTensorKind.Expert),
    ];

    static readonly HfTensor[] PlainQk =
    [
        new(TensorId.AttnQ, Layer + "self_attn.q_proj.weight"),
        new(TensorId.AttnK, Layer + "self_attn.k_proj.weight"),
    ];

    public static readonly HfArchitecture Mixtral = new("MixtralForCausalLM", "llama", "mixtral",
        [
            .. Common,
            new HfCopy("vocab_size", Count, "vocab_size"),
            new HfDerived("rope.dimension_count", c => c.Int("head_dim") is long d ? U32(d)
                : c.Int("hidden_size") is long h && c.Int("num_attention_heads") is long n && n > 0 ? U32(h / n) : null),
        ],
        [
            .. LlamaBody,
            // GGUF's llama rows are permuted for NORM RoPE; checkpoints keep them in NEOX halves.
            new(TensorId.AttnQ, Layer + "self_attn.q_proj.weight") { Transform = new RopeRowPermutation("attention.head_count") },
            new(TensorId.AttnK, Layer + "self_attn.k_proj.weight") { Transform = new RopeRowPermutation("attention.head_count_kv") },
            new(TensorId.FfnRouter, Layer + "block_sparse_moe.gate.weight"),
            new(TensorId.FfnGateExpert, Layer + "block_sparse_moe.experts.{E}.w1.weight", HfTensorKind.Expert),
            new(TensorId.FfnDownExpert, Layer + "block_sparse_moe.experts.{E}.w2.weight", HfTensorKind.Expert),
            new(TensorId.FfnUpExpert, Layer + "block_sparse_moe.experts.{E}.w3.weight", HfTensorKind.Expert),
        ]);

    public static readonly HfArchitecture Qwen2Moe = new("Qwen2MoeForCausalLM", "qwen2moe", "qwen2_moe",
        [
            .. Common,
            new HfCopy("expert_feed_forward_length", Count, "moe_intermediate_size"),
            new HfCopy("expert_shared_feed_forward_length", Count, "shared_expert_intermediate_size"),
            // llama.cpp's qwen2moe never renormalises the top-k weights.
            new HfExpect("norm_topk_prob", false, Default: false),
        ],
        [
            .. LlamaBody, .. PlainQk, .. QwenExperts,
            new(TensorId.AttnQ, Layer + "self_attn.q_proj.bias", HfTensorKind.Bias),
            new(TensorId.AttnK, Layer + "self_attn.k_proj.bias", HfTensorKind.Bias),
            new(TensorId.AttnV, Layer + "self_attn.v_proj.bias", HfTensorKind.Bias),
            new(TensorId.FfnSharedRouter, Layer + "mlp.shared_expert_gate.weight"),
            new(TensorId.FfnGateShared, Layer + "mlp.shared_expert.gate_proj.weight"),
            new(TensorId.FfnUpShared, Layer + "mlp.shared_expert.up_proj.weight"),
            new(TensorId.FfnDownShared, Layer + "mlp.shared_expert.down_proj.weight"),
        ]);

    public static readonly HfArchitecture Qwen3Moe = new("Qwen3MoeForCausalLM", "qwen3moe", "qwen3_moe",
        [
            .. Common,
            new HfCopy("expert_feed_forward_length", Count, "moe_intermediate_size"),
            // llama.cpp's qwen3moe always renormalises the top-k weights.
            new HfExpect("norm_topk_prob", true, Default: false),
        ],
        [
            .. LlamaBody, .. PlainQk, .. QwenExperts,
            new(TensorId.AttnQNorm, Layer + "self_attn.q_norm.weight"),
            new(TensorId.AttnKNorm, Layer + "self_attn.k_norm.weight"),
        ]);

    static readonly HfKey[] DeepseekKeys =
    [
        .. Common,
        // MLA is converted to MQA with one wide key/value head, decompressed per head.
        new HfConstant("attention.head_count_kv", U32(1)),
        new HfCopy("attention.layer_norm_rms_epsilon", Real, "rms_norm_eps") { Default = 1e-6f },
        new HfCopy("vocab_size", Count, "vocab_size"),
        new HfCopy("leading_dense_block_count", Count, "first_k_dense_replace") { Default = 0u },
        new HfCopy("attention.q_lora_rank", Count, "q_lora_rank"),
        new HfCopy("attention.kv_lora_rank", Count, "kv_lora_rank") { Default = 512u },
        new HfSum("attention.key_length", "kv_lora_rank", "qk_rope_head_dim"),
        new HfCopy("attention.value_length", Count, "kv_lora_rank") { Default = 512u },
        new HfSum("attention.key_length_mla", "qk_nope_head_dim", "qk_rope_head_dim"),
        new HfCopy("attention.value_length_mla", Count, "v_head_dim") { Required = true },
        new HfCopy("expert_feed_forward_length", Count, "moe_intermediate_size") { Required = true },
        new HfCopy("expert_shared_count", Count, "n_shared_experts") { Default = 0u },
        new HfCopy("expert_weights_scale", Real, "routed_scaling_factor"),
        new HfCopy("rope.dimension_count", Count, "qk_rope_head_dim") { Required = true },
        new HfScaled("rope.scaling.yarn_log_multiplier", ["rope_scaling.mscale_all_dim", "rope_parameters.mscale_all_dim"], 0.1),
    ];

    static readonly HfTensor[] DeepseekTensors =
    [
        new(TensorId.TokenEmbedding, "model.embed_tokens.weight"),
        new(TensorId.OutputNorm, "model.norm.weight"),
        new(TensorId.Output, "lm_head.weight"),
        new(TensorId.AttnNorm, Layer + "input_layernorm.weight"),
        new(TensorId.AttnQ, Layer + "self_attn.q_proj.weight"),
        new(TensorId.AttnQA, Layer + "self_attn.q_a_proj.weight"),
        new(TensorId.AttnQANorm, Layer + "self_attn.q_a_layernorm.weight"),
        new(TensorId.AttnQB, Layer + "self_attn.q_b_proj.weight"),
        new(TensorId.AttnKvAMqa, Layer + "self_attn.kv_a_proj_with_mqa.weight"),
        new(TensorId.AttnKvANorm, Layer + "self_attn.kv_a_layernorm.weight"),
        new(TensorId.AttnKB, Layer + "self_attn.kv_b_proj.weight") { Transform = new KvBSplit(Keys: true) },
        new(TensorId.AttnVB, Layer + "self_attn.kv_b_proj.weight") { Transform = new KvBSplit(Keys: false) },
        new(TensorId.AttnOutput, Layer + "self_attn.o_proj.weight"),
        new(TensorId.FfnNorm, Layer + "post_attention_layernorm.weight"),
        // Dense leading layers.
        new(TensorId.FfnGate, Layer + "mlp.gate_proj.weight"),
        new(TensorId.FfnUp, Layer + "mlp.up_proj.weight"),
        new(TensorId.FfnDown, Layer + "mlp.down_proj.weight"),
        .. QwenExperts,
        new(TensorId.ExpertProbabilityBias, Layer + "mlp.gate.e_score_correction_bias", HfTensorKind.Bias),
        new(TensorId.FfnGateShared, Layer + "mlp.shared_experts.gate_proj.weight"),
        new(TensorId.FfnUpShared, Layer + "mlp.shared_experts.up_proj.weight"),
        new(TensorId.FfnDownShared, Layer + "mlp.shared_experts.down_proj.weight"),
    ];

    public static readonly HfArchitecture DeepseekV2 = new("DeepseekV2ForCausalLM", "deepseek2", "deepseek_v2",
        [.. DeepseekKeys, new HfCopy("expert_weights_norm", Flag, "norm_topk_prob") { Default = false }],
        DeepseekTensors);

    public static readonly HfArchitecture DeepseekV3 = new("DeepseekV3ForCausalLM", "deepseek2", "deepseek_v3",
        // transformers' DeepseekV3Config renormalises by default.
        [.. DeepseekKeys, new HfCopy("expert_weights_norm", Flag, "norm_topk_prob") { Default = true }],
        DeepseekTensors);

    public static readonly IReadOnlyList<HfArchitecture> All = [Mixtral, Qwen2Moe, Qwen3Moe, DeepseekV2, DeepseekV3];

    public static HfArchitecture? Find(string hfName) => All.FirstOrDefault(a => a.HfName == hfName);

    /// <summary>The HF architecture a writer uses for a GGUF architecture (the first that maps onto it).</summary>
    public static HfArchitecture? ForGguf(string ggufName, GgufHeader header) => ggufName switch
    {
        // DeepSeek-V3 files are those with the V3 router: sigmoid gating with a selection bias.
        "deepseek2" => header.GetInt("deepseek2.expert_gating_func") == 2 ? DeepseekV3 : DeepseekV2,
        _ => All.FirstOrDefault(a => a.GgufName == ggufName),
    };

    static GgufValue U32(long v) => new(GgufValueType.UInt32, (uint)v);
    static GgufValue Str(string s) => new(GgufValueType.String, s);
}

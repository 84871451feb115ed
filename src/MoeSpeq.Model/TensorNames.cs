namespace MoeSpeq.Model;

/// <summary>Logical tensors of a decoder layer stack, independent of any file format's naming.</summary>
public enum TensorId
{
    TokenEmbedding,
    OutputNorm,
    Output,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
    FfnRouter,
    FfnGateExperts,
    FfnUpExperts,
    FfnDownExperts,
    // One routed expert's matrix each, in a repacked file: named with TensorNames.Gguf(id, layer, expert).
    FfnGateExpert,
    FfnUpExpert,
    FfnDownExpert,

    // Attention variants: per-head or whole-projection Q/K norms, output sinks, and the norm after attention.
    AttnQNorm,
    AttnKNorm,
    AttnSinks,
    PostAttentionNorm,
    // Multi-head latent attention (DeepSeek-V2/V3): low-rank query and compressed key/value projections.
    AttnQA,
    AttnQANorm,
    AttnQB,
    AttnKvAMqa,
    AttnKvANorm,
    AttnKB,
    AttnVB,
    // Shared experts, with the sigmoid gate of Qwen2-MoE; the routing bias of DeepSeek-V3.
    FfnGateShared,
    FfnUpShared,
    FfnDownShared,
    FfnSharedRouter,
    ExpertProbabilityBias,
    // LongRoPE frequency factors (model-wide).
    RopeFactorsShort,
    RopeFactorsLong,
}

/// <summary>The GGUF name table: logical tensor + layer → the name llama.cpp's converters write.</summary>
public static class TensorNames
{
    public static string Gguf(TensorId id, int layer = -1) => id switch
    {
        TensorId.TokenEmbedding => "token_embd.weight",
        TensorId.OutputNorm => "output_norm.weight",
        TensorId.Output => "output.weight",
        TensorId.RopeFactorsShort => "rope_factors_short.weight",
        TensorId.RopeFactorsLong => "rope_factors_long.weight",
        TensorId.FfnGateExpert or TensorId.FfnUpExpert or TensorId.FfnDownExpert =>
            throw new ArgumentOutOfRangeException(nameof(id), id, "a per-expert tensor is named with its expert"),
        _ => $"blk.{layer}.{BlockSuffix(id)}.weight",
    };

    /// <summary>
    /// The bias that goes with a weight tensor: <c>blk.{layer}.attn_q.bias</c>, <c>output.bias</c>. DeepSeek-V3's
    /// routing bias is stored as <c>exp_probs_b.bias</c>, the one bias with no weight beside it.
    /// </summary>
    public static string GgufBias(TensorId id, int layer = -1)
    {
        string weight = Gguf(id, layer);
        return string.Concat(weight.AsSpan(0, weight.Length - ".weight".Length), ".bias");
    }

    /// <summary>
    /// One expert's matrix in a file that stores a tensor per expert: <c>blk.{layer}.ffn_gate.{expert}.weight</c>,
    /// llama.cpp's LLM_TENSOR_FFN_*_EXP names, which it still loads (by merging them into stacked tensors).
    /// </summary>
    public static string Gguf(TensorId id, int layer, int expert) => id switch
    {
        TensorId.FfnGateExpert or TensorId.FfnUpExpert or TensorId.FfnDownExpert => $"blk.{layer}.{BlockSuffix(id)}.{expert}.weight",
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "not a per-expert tensor"),
    };

    /// <summary>The per-expert tensor that holds one slice of a stacked one (<see cref="TensorId.FfnGateExperts"/> → <see cref="TensorId.FfnGateExpert"/>).</summary>
    public static TensorId PerExpert(TensorId stacked) => stacked switch
    {
        TensorId.FfnGateExperts => TensorId.FfnGateExpert,
        TensorId.FfnUpExperts => TensorId.FfnUpExpert,
        TensorId.FfnDownExperts => TensorId.FfnDownExpert,
        _ => throw new ArgumentOutOfRangeException(nameof(stacked), stacked, "not a stacked expert tensor"),
    };

    /// <summary>
    /// Whether a GGUF tensor holds routed experts' matrices: stacked (<c>ffn_up_exps.weight</c>), or one expert
    /// (<c>ffn_up.3.weight</c>). Expert biases (<c>ffn_up_exps.bias</c>) are not: they are small and stay resident.
    /// </summary>
    public static bool IsRoutedExpert(string name)
    {
        if (name.Contains("_exps.", StringComparison.Ordinal)) return name.EndsWith(".weight", StringComparison.Ordinal);
        var parts = name.Split('.');
        return parts is ["blk", var layer, "ffn_gate" or "ffn_up" or "ffn_down", var expert, "weight"]
            && int.TryParse(layer, out _) && int.TryParse(expert, out _);
    }

    static string BlockSuffix(TensorId id) => id switch
    {
        TensorId.AttnNorm => "attn_norm",
        TensorId.AttnQ => "attn_q",
        TensorId.AttnK => "attn_k",
        TensorId.AttnV => "attn_v",
        TensorId.AttnOutput => "attn_output",
        TensorId.FfnNorm => "ffn_norm",
        TensorId.FfnGate or TensorId.FfnGateExpert => "ffn_gate",
        TensorId.FfnUp or TensorId.FfnUpExpert => "ffn_up",
        TensorId.FfnDown or TensorId.FfnDownExpert => "ffn_down",
        TensorId.FfnRouter => "ffn_gate_inp",
        TensorId.FfnGateExperts => "ffn_gate_exps",
        TensorId.FfnUpExperts => "ffn_up_exps",
        TensorId.FfnDownExperts => "ffn_down_exps",
        TensorId.AttnQNorm => "attn_q_norm",
        TensorId.AttnKNorm => "attn_k_norm",
        TensorId.AttnSinks => "attn_sinks",
        TensorId.PostAttentionNorm => "post_attention_norm",
        TensorId.AttnQA => "attn_q_a",
        TensorId.AttnQANorm => "attn_q_a_norm",
        TensorId.AttnQB => "attn_q_b",
        TensorId.AttnKvAMqa => "attn_kv_a_mqa",
        TensorId.AttnKvANorm => "attn_kv_a_norm",
        TensorId.AttnKB => "attn_k_b",
        TensorId.AttnVB => "attn_v_b",
        TensorId.FfnGateShared => "ffn_gate_shexp",
        TensorId.FfnUpShared => "ffn_up_shexp",
        TensorId.FfnDownShared => "ffn_down_shexp",
        TensorId.FfnSharedRouter => "ffn_gate_inp_shexp",
        TensorId.ExpertProbabilityBias => "exp_probs_b",
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "not a per-layer tensor"),
    };
}

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
}

/// <summary>The GGUF name table: logical tensor + layer → the name llama.cpp's converters write.</summary>
public static class TensorNames
{
    public static string Gguf(TensorId id, int layer = -1) => id switch
    {
        TensorId.TokenEmbedding => "token_embd.weight",
        TensorId.OutputNorm => "output_norm.weight",
        TensorId.Output => "output.weight",
        _ => $"blk.{layer}.{BlockSuffix(id)}.weight",
    };

    /// <summary>Whether a GGUF tensor holds routed experts (stacked, or one expert of a repacked file).</summary>
    public static bool IsRoutedExpert(string name) => name.Contains("_exps.", StringComparison.Ordinal);

    static string BlockSuffix(TensorId id) => id switch
    {
        TensorId.AttnNorm => "attn_norm",
        TensorId.AttnQ => "attn_q",
        TensorId.AttnK => "attn_k",
        TensorId.AttnV => "attn_v",
        TensorId.AttnOutput => "attn_output",
        TensorId.FfnNorm => "ffn_norm",
        TensorId.FfnGate => "ffn_gate",
        TensorId.FfnUp => "ffn_up",
        TensorId.FfnDown => "ffn_down",
        TensorId.FfnRouter => "ffn_gate_inp",
        TensorId.FfnGateExperts => "ffn_gate_exps",
        TensorId.FfnUpExperts => "ffn_up_exps",
        TensorId.FfnDownExperts => "ffn_down_exps",
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "not a per-layer tensor"),
    };
}

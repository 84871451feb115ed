namespace MoeSpeq.Model.Experts;

/// <summary>The gated activation between an expert's gate/up and down products; one per model.</summary>
public enum ExpertActivation
{
    /// <summary>silu(gate) ⊙ up (<see cref="Layers.SwiGlu"/>): Mixtral, Qwen, DeepSeek.</summary>
    SwiGlu,
    /// <summary>gpt-oss's clamped form (<see cref="Layers.SwiGluOai"/>).</summary>
    SwiGluOai,
}

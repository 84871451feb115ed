using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

/// <summary>gpt-oss's clamped SwiGLU (ggml's <c>swiglu_oai</c>), with the constants llama.cpp builds it with.</summary>
public static class SwiGluOai
{
    /// <summary>Slope of the sigmoid gate: g·σ(αg) approximates GELU.</summary>
    public const float Alpha = 1.702f;

    /// <summary>Bound on the gate (from above) and on the linear unit (both sides), which keeps activations finite.</summary>
    public const float Limit = 7f;

    /// <summary>gate[i] = g·σ(α·g) · (clamp(up[i], −limit, limit) + 1) with g = min(gate[i], limit), evaluated in float as ggml does.</summary>
    public static void Apply(Span<float> gate, ReadOnlySpan<float> up, float alpha = Alpha, float limit = Limit)
    {
        Debug.Assert(up.Length >= gate.Length);
        for (int i = 0; i < gate.Length; i++)
        {
            float g = MathF.Min(gate[i], limit);
            float u = Math.Clamp(up[i], -limit, limit);
            gate[i] = g / (1f + MathF.Exp(alpha * -g)) * (u + 1f);
        }
    }
}

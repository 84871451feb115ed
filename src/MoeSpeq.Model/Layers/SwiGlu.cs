using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

public static class SwiGlu
{
    /// <summary>gate[i] = silu(gate[i]) · up[i], with silu(x) = x / (1 + e^−x) evaluated in float as ggml does.</summary>
    public static void Apply(Span<float> gate, ReadOnlySpan<float> up)
    {
        Debug.Assert(up.Length >= gate.Length);
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }
}

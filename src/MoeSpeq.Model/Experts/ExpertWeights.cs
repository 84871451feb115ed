using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>
/// One expert's matrices: gate and up [ffn, dim], down [dim, ffn]; and, in architectures that have them (gpt-oss), the
/// biases added after each product. An executor that moves the matrices elsewhere (a cache slot, a low-bit copy)
/// keeps the biases with <c>with { Gate = …, Up = …, Down = … }</c>.
/// </summary>
public readonly record struct ExpertWeights(WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down, ExpertBias? Bias = null)
{
    /// <summary>
    /// The <paramref name="experts"/> routed experts of <paramref name="layer"/>, <paramref name="ffn"/> wide: slices of
    /// <c>ffn_{gate,up,down}_exps</c>, or a repacked file's tensor per expert.
    /// </summary>
    public static ExpertWeights[] LoadLayer(ModelWeights w, int layer, int dim, int ffn, int experts)
    {
        var gate = w.ExpertMatrices(TensorId.FfnGateExperts, layer, dim, ffn, experts);
        var up = w.ExpertMatrices(TensorId.FfnUpExperts, layer, dim, ffn, experts);
        var down = w.ExpertMatrices(TensorId.FfnDownExperts, layer, ffn, dim, experts);
        return [.. gate.Select((g, e) => new ExpertWeights(g, up[e], down[e]))];
    }
}

/// <summary>
/// One expert's biases: gate and up [ffn], down [dim]. A few hundred floats per expert, so they stay resident with the
/// model's layout whatever tier holds the expert's matrices.
/// </summary>
public sealed record ExpertBias(float[] Gate, float[] Up, float[] Down);

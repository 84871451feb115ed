using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>One expert's SwiGLU matrices: gate and up [ffn, dim], down [dim, ffn].</summary>
public readonly record struct ExpertWeights(WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down)
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

using System.Numerics.Tensors;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// Qwen2-MoE's shared expert: a dense SwiGLU FFN (<c>ffn_{gate,up,down}_shexp</c>) that every position goes through
/// beside the routed experts, its output scaled per position by sigmoid(g·x) with g the vector
/// <c>ffn_gate_inp_shexp</c> [dim]. Always resident: it is part of every token's compute, not of the expert store.
/// </summary>
public sealed record SharedExpert(FeedForward Ffn, WeightMatrix Gate)
{
    /// <summary>Loads the shared expert of <paramref name="layer"/>, <paramref name="ffn"/> wide, and its gate.</summary>
    public static SharedExpert Load(ModelWeights w, int layer, int dim, int ffn) =>
        new(FeedForward.Load(w, layer, dim, ffn, TensorId.FfnGateShared, TensorId.FfnUpShared, TensorId.FfnDownShared),
            w.Matrix(TensorId.FfnSharedRouter, layer, dim, 1)); // ne = [dim]: a one-row matrix, multiplied as llama.cpp does

    /// <summary>
    /// y[t, :] = sigmoid(g·x[t]) · FFN(x[t]) for x, y: [n, dim]; gateScratch and upScratch hold n · ffn values,
    /// gateLogits n values.
    /// </summary>
    public void Apply(MatMul matMul, ReadOnlySpan<float> x, int n, Span<float> gateScratch, Span<float> upScratch, Span<float> gateLogits, Span<float> y)
    {
        int dim = Ffn.Down.Rows;
        Ffn.Apply(matMul, x, n, gateScratch, upScratch, y);
        matMul.Multiply(Gate, x, gateLogits, n);
        for (int t = 0; t < n; t++)
        {
            var row = y.Slice(t * dim, dim);
            TensorPrimitives.Multiply(row, Sigmoid(gateLogits[t]), row);
        }
    }

    /// <summary>
    /// The sigmoid as llama.cpp's graph builds it, silu(g) / g, which rounds differently from 1 / (1 + e^−g);
    /// at g = 0, where that quotient is 0/0, the limit ½.
    /// </summary>
    static float Sigmoid(float g) => g == 0f ? 0.5f : g / (1f + MathF.Exp(-g)) / g;
}

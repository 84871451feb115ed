using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// A dense SwiGLU feed-forward network: y = down(silu(gate·x) ⊙ up·x). Used by dense layers and by the shared
/// experts that some MoE architectures run beside the routed ones, which are always resident.
/// </summary>
public sealed record FeedForward(WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down)
{
    /// <summary>Loads gate and up [ffn, dim] and down [dim, ffn] of <paramref name="layer"/>.</summary>
    public static FeedForward Load(ModelWeights w, int layer, int dim, int ffn, TensorId gate, TensorId up, TensorId down) =>
        new(w.Matrix(gate, layer, dim, ffn), w.Matrix(up, layer, dim, ffn), w.Matrix(down, layer, ffn, dim));

    public int HiddenWidth => Gate.Rows;

    /// <summary>x: [n, dim] → y: [n, dim]; gateScratch and upScratch hold at least n · ffn values each.</summary>
    public void Apply(MatMul matMul, ReadOnlySpan<float> x, int n, Span<float> gateScratch, Span<float> upScratch, Span<float> y)
    {
        int ffn = HiddenWidth;
        var gate = gateScratch[..(n * ffn)]; // [n, ffn]
        var up = upScratch[..(n * ffn)];     // [n, ffn]
        matMul.MultiplyEach(x, n, Gate, gate, Up, up);
        SwiGlu.Apply(gate, up);
        matMul.Multiply(Down, gate, y, n);
    }
}

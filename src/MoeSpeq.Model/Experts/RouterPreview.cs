using System.Numerics.Tensors;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>
/// Applies a layer's FFN norm and router to a residual-stream row from an earlier layer: the router logits that
/// layer would compute if the layers in between changed nothing. Gate-lookahead predictors prefetch from these
/// (Mixtral-offloading, AdapMoE, HOBBIT); the model supplies one because norm and router are its own.
/// Not thread-safe: it is called on the compute thread between the model's own matmuls.
/// </summary>
public sealed class RouterPreview
{
    /// <summary>
    /// One MoE layer's FFN RMSNorm weights [dim] and router [experts, dim], with the norm's bias [dim] and the router's
    /// bias [experts] where the architecture has them.
    /// </summary>
    public sealed record Layer(float[] Norm, WeightMatrix Router, float[]? NormBias = null, float[]? Bias = null);

    readonly MatMul _matMul;
    readonly Layer?[] _layers;
    readonly float _eps;
    readonly float[] _normed;

    /// <param name="layers">Per layer: its norm and router, or null for a dense layer.</param>
    public RouterPreview(MatMul matMul, int dim, int experts, float eps, Layer?[] layers)
    {
        _matMul = matMul;
        _layers = layers;
        _eps = eps;
        _normed = new float[dim];
        ExpertCount = experts;
    }

    public int ExpertCount { get; }
    public int LayerCount => _layers.Length;

    /// <summary>Whether <paramref name="layer"/> routes experts.</summary>
    public bool Routes(int layer) => (uint)layer < (uint)_layers.Length && _layers[layer] is not null;

    /// <summary>logits[experts] = Router(layer) · (RmsNorm(residualRow; FFN norm of layer) + norm bias) + router bias.</summary>
    public void Logits(int layer, ReadOnlySpan<float> residualRow, Span<float> logits)
    {
        var L = _layers[layer] ?? throw new ArgumentException($"layer {layer} has no router", nameof(layer));
        RmsNorm.Apply(residualRow, L.Norm, _normed, _eps);
        if (L.NormBias is { } bias) TensorPrimitives.Add(_normed, bias, _normed);
        _matMul.Multiply(L.Router, _normed, logits, 1);
        Bias.AddRows(logits, L.Bias, 1);
    }
}

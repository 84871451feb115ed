using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>
/// One expert's feed-forward network applied to a group of rows: y = down(silu(gate·x) ⊙ up·x). Holds the
/// intermediate buffers so that executors of any storage tier share one allocation-free implementation.
/// </summary>
public sealed class ExpertFfn(MatMul matMul, int dim, int ffn, int capacity)
{
    float[] _gate = new float[capacity * ffn];
    float[] _up = new float[capacity * ffn];

    public int Dim => dim;
    public int HiddenWidth => ffn;

    /// <summary>x: [rows, dim] → y: [rows, dim].</summary>
    public void Compute(in ExpertWeights w, ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        if (_gate.Length < rows * ffn)
        {
            _gate = new float[rows * ffn];
            _up = new float[rows * ffn];
        }
        var gate = _gate.AsSpan(0, rows * ffn); // [rows, ffn]
        var up = _up.AsSpan(0, rows * ffn);     // [rows, ffn]
        matMul.MultiplyEach(x, rows, w.Gate, gate, w.Up, up);
        SwiGlu.Apply(gate, up);
        matMul.Multiply(w.Down, gate, y, rows);
    }
}

using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>
/// Experts' feed-forward networks applied to rows grouped by expert: y = down(act(gate·x, up·x)), where act is the
/// model's <see cref="ExpertActivation"/> and, for experts with an <see cref="ExpertBias"/>, each product has its bias
/// added. All experts of a call share two pool runs (every gate and up product, then every down product), so a decode
/// step that uses k experts meets the other threads twice per layer rather than 2k times. Holds the intermediate
/// buffers so that executors of any storage tier share one allocation-free implementation.
/// </summary>
public sealed unsafe class ExpertFfn(MatMul matMul, int dim, int ffn, int capacity, ExpertActivation activation = ExpertActivation.SwiGlu)
{
    float[] _gate = GC.AllocateUninitializedArray<float>(capacity * ffn, pinned: true);
    float[] _up = GC.AllocateUninitializedArray<float>(capacity * ffn, pinned: true);

    public int Dim => dim;
    public int HiddenWidth => ffn;
    public ExpertActivation Activation => activation;

    /// <summary>One expert: x: [rows, dim] → y: [rows, dim].</summary>
    public void Compute(in ExpertWeights w, ReadOnlySpan<float> x, Span<float> y, int rows) =>
        Compute(new ReadOnlySpan<ExpertWeights>(in w), [0, rows], x, y);

    /// <summary>
    /// Expert j applied to rows [rowStart[j], rowStart[j + 1]) of x: [rows, dim], written to the same rows of
    /// y: [rows, dim], where rows = rowStart[experts.Length].
    /// </summary>
    public void Compute(ReadOnlySpan<ExpertWeights> experts, ReadOnlySpan<int> rowStart, ReadOnlySpan<float> x, Span<float> y)
    {
        if (rowStart.Length != experts.Length + 1) throw new ArgumentException($"need {experts.Length + 1} row offsets, got {rowStart.Length}", nameof(rowStart));
        int rows = rowStart[experts.Length];
        if (x.Length < (long)rows * dim || y.Length < (long)rows * dim) throw new ArgumentException($"x and y must hold {rows}×{dim} values");
        for (int j = 0; j < experts.Length; j++)
            if (rowStart[j] > rowStart[j + 1] || rowStart[j] < 0) throw new ArgumentException("row offsets must not decrease", nameof(rowStart));
        if (_gate.Length < rows * ffn)
        {
            _gate = GC.AllocateUninitializedArray<float>(rows * ffn, pinned: true);
            _up = GC.AllocateUninitializedArray<float>(rows * ffn, pinned: true);
        }
        fixed (float* px = x)
        fixed (float* py = y)
        fixed (float* gate = _gate) // [rows, ffn]
        fixed (float* up = _up)     // [rows, ffn]
        {
            for (int j = 0; j < experts.Length; j++)
            {
                int start = rowStart[j], count = rowStart[j + 1] - start;
                if (count == 0) continue;
                // Gate and up follow each other over the same rows, so their input is converted once.
                matMul.Enqueue(experts[j].Gate, px + (long)start * dim, count, gate + (long)start * ffn, ffn);
                matMul.Enqueue(experts[j].Up, px + (long)start * dim, count, up + (long)start * ffn, ffn);
            }
            matMul.RunQueued();
            AddBiases(experts, rowStart, _gate, ffn, static b => b.Gate);
            AddBiases(experts, rowStart, _up, ffn, static b => b.Up);
            if (activation == ExpertActivation.SwiGluOai) SwiGluOai.Apply(_gate.AsSpan(0, rows * ffn), _up.AsSpan(0, rows * ffn));
            else SwiGlu.Apply(_gate.AsSpan(0, rows * ffn), _up.AsSpan(0, rows * ffn));
            for (int j = 0; j < experts.Length; j++)
            {
                int start = rowStart[j], count = rowStart[j + 1] - start;
                if (count == 0) continue;
                matMul.Enqueue(experts[j].Down, gate + (long)start * ffn, count, py + (long)start * dim, dim);
            }
            matMul.RunQueued();
            AddBiases(experts, rowStart, y, dim, static b => b.Down);
        }
    }

    /// <summary>Adds each biased expert's bias (picked by <paramref name="of"/>, [width]) to its rows of <paramref name="x"/>: [rows, width].</summary>
    static void AddBiases(ReadOnlySpan<ExpertWeights> experts, ReadOnlySpan<int> rowStart, Span<float> x, int width, Func<ExpertBias, float[]> of)
    {
        for (int j = 0; j < experts.Length; j++)
        {
            if (experts[j].Bias is not { } bias) continue;
            int start = rowStart[j], count = rowStart[j + 1] - start;
            Bias.AddRows(x.Slice(start * width, count * width), of(bias), count);
        }
    }
}

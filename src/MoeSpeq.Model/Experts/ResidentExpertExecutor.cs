using System.Numerics.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>
/// Runs experts whose weights are all addressable in memory (the mapped model file). Positions are grouped by
/// expert so each expert's matrices stream through the cache once per batch.
/// </summary>
public sealed class ResidentExpertExecutor : IExpertExecutor
{
    readonly ExpertWeights[][] _layers;
    readonly ExpertFfn _ffn;
    readonly ExpertGrouping _grouping;
    readonly int _dim;
    float[] _gathered;   // [rows, dim]
    float[] _expertOut;  // [rows, dim]
    float[] _slotOut;    // [tokens·k, dim]

    /// <param name="layers">[layer][expert] weights; a dense layer has an empty array.</param>
    public ResidentExpertExecutor(ExpertWeights[][] layers, ExpertFfn ffn, int expertCount, int capacity)
    {
        _layers = layers;
        _ffn = ffn;
        _dim = ffn.Dim;
        _grouping = new ExpertGrouping(expertCount, capacity);
        _gathered = new float[capacity * _dim];
        _expertOut = new float[capacity * _dim];
        _slotOut = new float[capacity * _dim];
    }

    public void Forward(int layer, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        int dim = _dim, slots = tokens * k;
        if (_slotOut.Length < slots * dim)
        {
            _slotOut = new float[slots * dim];
            _gathered = new float[slots * dim];
            _expertOut = new float[slots * dim];
        }
        _grouping.Build(ids, tokens, k);
        var experts = _layers[layer];
        for (int e = 0; e < _grouping.ExpertCount; e++)
        {
            var assigned = _grouping.SlotsOf(e);
            if (assigned.IsEmpty) continue;
            int rows = assigned.Length;
            for (int r = 0; r < rows; r++)
                hidden.Slice(assigned[r] / k * dim, dim).CopyTo(_gathered.AsSpan(r * dim, dim));
            _ffn.Compute(experts[e], _gathered.AsSpan(0, rows * dim), _expertOut.AsSpan(0, rows * dim), rows);
            for (int r = 0; r < rows; r++)
                _expertOut.AsSpan(r * dim, dim).CopyTo(_slotOut.AsSpan(assigned[r] * dim, dim));
        }
        Combine(_slotOut, weights, tokens, k, dim, output);
    }

    /// <summary>output[t] = Σ_j weights[t, j] · slotOut[t, j], accumulated in slot order as ggml adds the expert views.</summary>
    internal static void Combine(ReadOnlySpan<float> slotOut, ReadOnlySpan<float> weights, int tokens, int k, int dim, Span<float> output)
    {
        for (int t = 0; t < tokens; t++)
        {
            var dst = output.Slice(t * dim, dim);
            TensorPrimitives.Multiply(slotOut.Slice(t * k * dim, dim), weights[t * k], dst);
            for (int j = 1; j < k; j++)
                TensorPrimitives.MultiplyAdd(slotOut.Slice((t * k + j) * dim, dim), weights[t * k + j], dst, dst);
        }
    }
}

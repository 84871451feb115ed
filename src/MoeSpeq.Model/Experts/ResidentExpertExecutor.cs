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
    readonly ExpertWeights[] _active; // experts with rows in this call, in id order
    readonly int[] _rowStart;         // [active + 1]: their rows in _gathered
    float[] _gathered;                // [slots, dim], grouped by expert
    float[] _expertOut;               // [slots, dim], same order
    float[] _slotOut;                 // [tokens·k, dim]

    /// <param name="layers">[layer][expert] weights; a dense layer has an empty array.</param>
    public ResidentExpertExecutor(ExpertWeights[][] layers, ExpertFfn ffn, int expertCount, int capacity)
    {
        _layers = layers;
        _ffn = ffn;
        _dim = ffn.Dim;
        _grouping = new ExpertGrouping(expertCount, capacity);
        _active = new ExpertWeights[expertCount];
        _rowStart = new int[expertCount + 1];
        _gathered = new float[capacity * _dim];
        _expertOut = new float[capacity * _dim];
        _slotOut = new float[capacity * _dim];
    }

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
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
        int active = 0, row = 0;
        for (int e = 0; e < _grouping.ExpertCount; e++)
        {
            var assigned = _grouping.SlotsOf(e);
            if (assigned.IsEmpty) continue;
            _active[active] = experts[e];
            _rowStart[active++] = row;
            foreach (int slot in assigned)
                hidden.Slice(slot / k * dim, dim).CopyTo(_gathered.AsSpan(row++ * dim, dim));
        }
        _rowStart[active] = row;
        _ffn.Compute(_active.AsSpan(0, active), _rowStart.AsSpan(0, active + 1), _gathered.AsSpan(0, row * dim), _expertOut.AsSpan(0, row * dim));
        row = 0;
        for (int e = 0; e < _grouping.ExpertCount; e++)
            foreach (int slot in _grouping.SlotsOf(e))
                _expertOut.AsSpan(row++ * dim, dim).CopyTo(_slotOut.AsSpan(slot * dim, dim));
        Combine(_slotOut, weights, tokens, k, dim, output);
    }

    /// <summary>output[t] = Σ_j weights[t, j] · slotOut[t, j], accumulated in slot order as ggml adds the expert views.</summary>
    public static void Combine(ReadOnlySpan<float> slotOut, ReadOnlySpan<float> weights, int tokens, int k, int dim, Span<float> output)
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

namespace MoeSpeq.Tensors;

/// <summary>
/// Matrix products of a weight matrix with a batch of activation rows: y[b, r] = Σ_c W[r, c] · x[b, c].
/// One instance per model run state: it owns the scratch that holds activations converted for the weight type,
/// so steady-state calls allocate nothing.
/// </summary>
public sealed unsafe class MatMul : IParallelTask
{
    readonly ComputePool _pool;
    float[] _rowScratch = [];
    WeightMatrix _w;
    float* _x;
    float* _y;
    int _batch;

    public MatMul(ComputePool pool) => _pool = pool;

    public ComputePool Pool => _pool;

    /// <summary>y[batch, w.Rows] = x[batch, w.Cols] · Wᵀ.</summary>
    public void Multiply(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int batch)
    {
        if (x.Length < batch * w.Cols) throw new ArgumentException($"x holds {x.Length} values, need {batch}×{w.Cols}");
        if (y.Length < batch * w.Rows) throw new ArgumentException($"y holds {y.Length} values, need {batch}×{w.Rows}");
        fixed (float* px = x)
        fixed (float* py = y)
        {
            _w = w;
            _x = px;
            _y = py;
            _batch = batch;
            if (_rowScratch.Length < w.Cols * _pool.ThreadCount) _rowScratch = new float[w.Cols * _pool.ThreadCount];
            _pool.Run(this, w.Rows);
            _x = null;
            _y = null;
        }
    }

    void IParallelTask.Execute(int row)
    {
        int cols = _w.Cols;
        var dequantized = new float[cols];
        Dequantize.Row(_w.Type, _w.Row(row), dequantized);
        for (int b = 0; b < _batch; b++)
        {
            var xb = new ReadOnlySpan<float>(_x + (long)b * cols, cols);
            _y[(long)b * _w.Rows + row] = System.Numerics.Tensors.TensorPrimitives.Dot(dequantized, xb);
        }
    }
}

namespace MoeSpeq.Tensors;

/// <summary>
/// Matrix products of a weight matrix with a batch of activation rows: y[b, r] = Σ_c W[r, c] · x[b, c], computed as
/// llama.cpp does on CPU (activations converted to the weight type's vec-dot type, then <see cref="VecDot"/>).
/// One instance per model run state: it owns the converted-activation scratch, so steady-state calls allocate nothing.
/// Not thread-safe: one call at a time per instance.
/// </summary>
/// <remarks>
/// Weight rows are split into chunks (about six per pool thread, so uneven thread speed evens out). Within a chunk a
/// tile of weight rows is dotted with every batch row before the next tile, so each weight byte comes from memory
/// once per call however large the batch (the MoE grouped-expert and prefill case). Where a multi-row kernel exists
/// (<see cref="VecDot.MultiKernel"/>) each weight block is also unpacked once for up to four batch rows.
/// </remarks>
public sealed unsafe class MatMul : IParallelTask
{
    const int ChunksPerThread = 6;
    const int MinRowsPerChunk = 4;
    const int RowTile = 16;
    const int BatchTile = 32;

    readonly ComputePool _pool;
    readonly QuantizedActivations _scratch = new();

    // The call in flight, read by the pool threads.
    WeightMatrix _w;
    delegate*<byte*, byte*, int, float> _kernel;
    delegate*<byte*, byte*, nint, int, float*, nint, int, void> _multiKernel;
    byte* _x;
    int _xRowBytes;
    float* _y;
    int _yStride;
    int _batch;
    int _rowsPerChunk;

    public MatMul(ComputePool pool) => _pool = pool ?? throw new ArgumentNullException(nameof(pool));

    public ComputePool Pool => _pool;

    /// <summary>Kernels to run on; lowered only by benchmarks and tests that compare instruction sets.</summary>
    internal VecDotIsa Isa { get; set; } = VecDot.Isa;

    /// <summary>y[batch, w.Rows] = x[batch, w.Cols] · Wᵀ.</summary>
    public void Multiply(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int batch) =>
        Multiply(w, x, y, batch, w.Rows);

    /// <summary>y[b·yStride + r] = Σ_c W[r, c]·x[b, c] for x[batch, w.Cols]; yStride ≥ w.Rows lets y be columns of a wider buffer.</summary>
    public void Multiply(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int batch, int yStride)
    {
        if (x.Length < (long)batch * w.Cols) throw new ArgumentException($"x holds {x.Length} values, need {batch}×{w.Cols}", nameof(x));
        _scratch.Quantize(w.Type, x[..(batch * w.Cols)], w.Cols, batch, batch >= 8 ? _pool : null);
        Multiply(w, _scratch, y, yStride);
    }

    /// <summary>
    /// y0 = x·W0ᵀ and y1 = x·W1ᵀ for two matrices that read the same input (an FFN's gate and up): the input is
    /// converted once when both weights share a vec-dot type.
    /// </summary>
    public void MultiplyEach(ReadOnlySpan<float> x, int batch, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1)
    {
        Multiply(w0, x, y0, batch);
        MultiplyReusing(x, batch, w1, y1);
    }

    /// <summary>Three matrices over one input (attention's Q, K and V projections); see the two-matrix overload.</summary>
    public void MultiplyEach(ReadOnlySpan<float> x, int batch, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1, in WeightMatrix w2, Span<float> y2)
    {
        Multiply(w0, x, y0, batch);
        MultiplyReusing(x, batch, w1, y1);
        MultiplyReusing(x, batch, w2, y2);
    }

    /// <summary>Multiplies by the activations converted by the previous call when they fit this weight, else converts anew.</summary>
    void MultiplyReusing(ReadOnlySpan<float> x, int batch, in WeightMatrix w, Span<float> y)
    {
        if (_scratch.Type == VecDot.TypeFor(w.Type) && _scratch.Cols == w.Cols && _scratch.Batch == batch) Multiply(w, _scratch, y, w.Rows);
        else Multiply(w, x, y, batch);
    }

    /// <summary>y[x.Batch, w.Rows] = x · Wᵀ for activations already converted for w's type (reusable across matrices).</summary>
    public void Multiply(in WeightMatrix w, QuantizedActivations x, Span<float> y) => Multiply(w, x, y, w.Rows);

    /// <summary>y[b·yStride + r] = Σ_c W[r, c]·x[b, c] for activations already converted for w's type.</summary>
    public void Multiply(in WeightMatrix w, QuantizedActivations x, Span<float> y, int yStride)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Type != VecDot.TypeFor(w.Type) || x.Cols != w.Cols)
            throw new ArgumentException($"activations are {x.Batch}×{x.Cols} {x.Type}; {w.Type} weights with {w.Cols} columns need {VecDot.TypeFor(w.Type)}", nameof(x));
        int batch = x.Batch;
        if (yStride < w.Rows) throw new ArgumentOutOfRangeException(nameof(yStride), yStride, $"must be at least {w.Rows}");
        if (batch == 0 || w.Rows == 0) return;
        if (y.Length < (long)(batch - 1) * yStride + w.Rows) throw new ArgumentException($"y holds {y.Length} values, need {batch} rows of stride {yStride}", nameof(y));

        int chunks = Math.Clamp(_pool.ThreadCount * ChunksPerThread, 1, Math.Max(1, w.Rows / MinRowsPerChunk));
        fixed (float* py = y)
        {
            _w = w;
            _kernel = VecDot.Kernel(w.Type, Isa);
            _multiKernel = VecDot.MultiKernel(w.Type, Isa);
            _x = x.Data;
            _xRowBytes = x.RowBytes;
            _y = py;
            _yStride = yStride;
            _batch = batch;
            _rowsPerChunk = (w.Rows + chunks - 1) / chunks;
            chunks = (w.Rows + _rowsPerChunk - 1) / _rowsPerChunk;
            try { _pool.Run(this, chunks); }
            finally
            {
                _y = null;
                _x = null;
            }
        }
    }

    void IParallelTask.Execute(int chunk)
    {
        int rowStart = chunk * _rowsPerChunk;
        int rowEnd = Math.Min(_w.Rows, rowStart + _rowsPerChunk);
        int cols = _w.Cols;
        int rowBytes = _w.RowBytes;
        var kernel = _kernel;
        byte* data = _w.Data;
        if (_batch == 1)
        {
            for (int r = rowStart; r < rowEnd; r++) _y[r] = kernel(data + (long)r * rowBytes, _x, cols);
            return;
        }
        for (int r0 = rowStart; r0 < rowEnd; r0 += RowTile)
        {
            int r1 = Math.Min(rowEnd, r0 + RowTile);
            for (int b0 = 0; b0 < _batch; b0 += BatchTile)
            {
                int b1 = Math.Min(_batch, b0 + BatchTile);
                for (int r = r0; r < r1; r++)
                {
                    byte* wr = data + (long)r * rowBytes;
                    if (_multiKernel != null)
                    {
                        for (int b = b0; b < b1; b += VecDot.MultiRows)
                            _multiKernel(wr, _x + (long)b * _xRowBytes, _xRowBytes, cols, _y + (long)b * _yStride + r, _yStride, Math.Min(VecDot.MultiRows, b1 - b));
                    }
                    else
                    {
                        for (int b = b0; b < b1; b++)
                            _y[(long)b * _yStride + r] = kernel(wr, _x + (long)b * _xRowBytes, cols);
                    }
                }
            }
        }
    }
}

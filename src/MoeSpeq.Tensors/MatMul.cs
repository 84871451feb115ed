namespace MoeSpeq.Tensors;

/// <summary>
/// Matrix products of a weight matrix with a batch of activation rows: y[b, r] = Σ_c W[r, c] · x[b, c], computed as
/// llama.cpp does on CPU (activations converted to the weight type's vec-dot type, then <see cref="VecDot"/>).
/// One instance per model run state: it owns the converted-activation scratch, so steady-state calls allocate nothing.
/// Not thread-safe: one call at a time per instance.
/// </summary>
/// <remarks>
/// Weight rows are split into chunks (about six per pool thread, so uneven thread speed evens out); the matrices of one
/// <c>MultiplyEach</c> call share one run, their rows numbered one after another. Within a chunk a
/// tile of weight rows is dotted with every batch row before the next tile, so each weight byte comes from memory
/// once per call however large the batch (the MoE grouped-expert and prefill case). Where a multi-row kernel exists
/// (<see cref="VecDot.MultiKernel"/>) each weight block is also unpacked once for up to four batch rows.
/// </remarks>
public sealed unsafe class MatMul : IParallelTask
{
    const int ChunksPerThread = 6;
    const int MinRowsPerChunk = 4;
    // A chunk smaller than this costs more to hand to another thread than to compute here (a router's few rows).
    const long MinWeightBytesPerChunk = 32 << 10;
    const int RowTile = 16;
    const int BatchTile = 32;
    const int MaxParts = 3;

    readonly ComputePool _pool;
    readonly QuantizedActivations _scratch = new();

    /// <summary>One matrix of the call in flight; a call's matrices number their rows one after another.</summary>
    struct Part
    {
        public WeightMatrix W;
        public delegate*<byte*, byte*, int, float> Kernel;
        public delegate*<byte*, byte*, nint, int, float*, nint, int, void> MultiKernel;
        public float* Y;
        public int YStride;
        public int FirstRow;
    }

    // The call in flight, read by the pool threads.
    readonly Part[] _parts = new Part[MaxParts];
    int _partCount;
    byte* _x;
    int _xRowBytes;
    int _batch;
    int _rowsPerChunk;
    int _totalRows;

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
        Convert(w, x, batch);
        Multiply(w, _scratch, y, yStride);
    }

    /// <summary>
    /// y0 = x·W0ᵀ and y1 = x·W1ᵀ for two matrices that read the same input (an FFN's gate and up): when both weights
    /// share a vec-dot type the input is converted once and both matrices are split across the pool in one run, so
    /// the threads meet at one barrier instead of two.
    /// </summary>
    public void MultiplyEach(ReadOnlySpan<float> x, int batch, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1)
    {
        Convert(w0, x, batch);
        if (!Fits(w1)) { Multiply(w0, _scratch, y0, w0.Rows); Multiply(w1, x, y1, batch); return; }
        Check(w0, _scratch, y0, w0.Rows);
        Check(w1, _scratch, y1, w1.Rows);
        fixed (float* p0 = y0)
        fixed (float* p1 = y1)
        {
            SetPart(0, w0, p0, w0.Rows);
            SetPart(1, w1, p1, w1.Rows);
            Run(_scratch, 2);
        }
    }

    /// <summary>Three matrices over one input (attention's Q, K and V projections); see the two-matrix overload.</summary>
    public void MultiplyEach(ReadOnlySpan<float> x, int batch, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1, in WeightMatrix w2, Span<float> y2)
    {
        Convert(w0, x, batch);
        if (!Fits(w1) || !Fits(w2))
        {
            Multiply(w0, _scratch, y0, w0.Rows);
            MultiplyReusing(x, batch, w1, y1);
            MultiplyReusing(x, batch, w2, y2);
            return;
        }
        Check(w0, _scratch, y0, w0.Rows);
        Check(w1, _scratch, y1, w1.Rows);
        Check(w2, _scratch, y2, w2.Rows);
        fixed (float* p0 = y0)
        fixed (float* p1 = y1)
        fixed (float* p2 = y2)
        {
            SetPart(0, w0, p0, w0.Rows);
            SetPart(1, w1, p1, w1.Rows);
            SetPart(2, w2, p2, w2.Rows);
            Run(_scratch, 3);
        }
    }

    void Convert(in WeightMatrix w, ReadOnlySpan<float> x, int batch)
    {
        if (x.Length < (long)batch * w.Cols) throw new ArgumentException($"x holds {x.Length} values, need {batch}×{w.Cols}", nameof(x));
        _scratch.Quantize(w.Type, x[..(batch * w.Cols)], w.Cols, batch, batch >= 8 ? _pool : null);
    }

    /// <summary>Whether the activations converted last can be dotted with w as they are.</summary>
    bool Fits(in WeightMatrix w) => _scratch.Type == VecDot.TypeFor(w.Type) && _scratch.Cols == w.Cols;

    /// <summary>Multiplies by the activations converted by the previous call when they fit this weight, else converts anew.</summary>
    void MultiplyReusing(ReadOnlySpan<float> x, int batch, in WeightMatrix w, Span<float> y)
    {
        if (Fits(w) && _scratch.Batch == batch) Multiply(w, _scratch, y, w.Rows);
        else Multiply(w, x, y, batch);
    }

    /// <summary>y[x.Batch, w.Rows] = x · Wᵀ for activations already converted for w's type (reusable across matrices).</summary>
    public void Multiply(in WeightMatrix w, QuantizedActivations x, Span<float> y) => Multiply(w, x, y, w.Rows);

    /// <summary>y[b·yStride + r] = Σ_c W[r, c]·x[b, c] for activations already converted for w's type.</summary>
    public void Multiply(in WeightMatrix w, QuantizedActivations x, Span<float> y, int yStride)
    {
        Check(w, x, y, yStride);
        fixed (float* py = y)
        {
            SetPart(0, w, py, yStride);
            Run(x, 1);
        }
    }

    static void Check(in WeightMatrix w, QuantizedActivations x, Span<float> y, int yStride)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Type != VecDot.TypeFor(w.Type) || x.Cols != w.Cols)
            throw new ArgumentException($"activations are {x.Batch}×{x.Cols} {x.Type}; {w.Type} weights with {w.Cols} columns need {VecDot.TypeFor(w.Type)}", nameof(x));
        if (yStride < w.Rows) throw new ArgumentOutOfRangeException(nameof(yStride), yStride, $"must be at least {w.Rows}");
        if (x.Batch > 0 && w.Rows > 0 && y.Length < (long)(x.Batch - 1) * yStride + w.Rows)
            throw new ArgumentException($"y holds {y.Length} values, need {x.Batch} rows of stride {yStride}", nameof(y));
    }

    void SetPart(int i, in WeightMatrix w, float* y, int yStride)
    {
        ref var part = ref _parts[i];
        part.W = w;
        part.Kernel = VecDot.Kernel(w.Type, Isa);
        part.MultiKernel = VecDot.MultiKernel(w.Type, Isa);
        part.Y = y;
        part.YStride = yStride;
        part.FirstRow = i == 0 ? 0 : _parts[i - 1].FirstRow + _parts[i - 1].W.Rows;
    }

    /// <summary>Splits the rows of parts [0, count) into chunks and runs them across the pool.</summary>
    void Run(QuantizedActivations x, int count)
    {
        ref var last = ref _parts[count - 1];
        int rows = last.FirstRow + last.W.Rows;
        long bytes = 0;
        for (int i = 0; i < count; i++) bytes += _parts[i].W.ByteLength;
        if (x.Batch == 0 || rows == 0) return;

        long maxChunks = Math.Max(1, Math.Min(rows / MinRowsPerChunk, bytes * x.Batch / MinWeightBytesPerChunk));
        int chunks = (int)Math.Clamp(_pool.ThreadCount * ChunksPerThread, 1, maxChunks);
        _partCount = count;
        _totalRows = rows;
        _x = x.Data;
        _xRowBytes = x.RowBytes;
        _batch = x.Batch;
        _rowsPerChunk = (rows + chunks - 1) / chunks;
        chunks = (rows + _rowsPerChunk - 1) / _rowsPerChunk;
        try { _pool.Run(this, chunks); }
        finally
        {
            for (int i = 0; i < count; i++) _parts[i].Y = null;
            _x = null;
        }
    }

    void IParallelTask.Execute(int chunk)
    {
        int start = chunk * _rowsPerChunk;
        int end = Math.Min(_totalRows, start + _rowsPerChunk);
        for (int i = 0; i < _partCount; i++)
        {
            ref readonly var part = ref _parts[i];
            int lo = Math.Max(start, part.FirstRow) - part.FirstRow;
            int hi = Math.Min(end, part.FirstRow + part.W.Rows) - part.FirstRow;
            if (lo < hi) Rows(part, lo, hi);
        }
    }

    /// <summary>Rows [rowStart, rowEnd) of one part for the whole batch.</summary>
    void Rows(in Part part, int rowStart, int rowEnd)
    {
        int cols = part.W.Cols;
        int rowBytes = part.W.RowBytes;
        var kernel = part.Kernel;
        var multiKernel = part.MultiKernel;
        byte* data = part.W.Data;
        float* y = part.Y;
        int yStride = part.YStride;
        if (_batch == 1)
        {
            for (int r = rowStart; r < rowEnd; r++) y[r] = kernel(data + (long)r * rowBytes, _x, cols);
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
                    if (multiKernel != null)
                    {
                        for (int b = b0; b < b1; b += VecDot.MultiRows)
                            multiKernel(wr, _x + (long)b * _xRowBytes, _xRowBytes, cols, y + (long)b * yStride + r, yStride, Math.Min(VecDot.MultiRows, b1 - b));
                    }
                    else
                    {
                        for (int b = b0; b < b1; b++)
                            y[(long)b * yStride + r] = kernel(wr, _x + (long)b * _xRowBytes, cols);
                    }
                }
            }
        }
    }
}

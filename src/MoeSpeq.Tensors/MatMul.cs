namespace MoeSpeq.Tensors;

/// <summary>
/// Matrix products of a weight matrix with a batch of activation rows: y[b, r] = Σ_c W[r, c] · x[b, c], computed as
/// llama.cpp does on CPU (activations converted to the weight type's vec-dot type, then <see cref="VecDot"/>).
/// One instance per model run state: it owns the converted-activation scratch, so steady-state calls allocate nothing.
/// Not thread-safe: one call at a time per instance.
/// </summary>
/// <remarks>
/// Weight rows are split into chunks that shrink as the run goes on (guided self-scheduling: each is a fixed share of
/// the rows left), so early chunks are large and cheap to hand out while the last ones are small enough that a thread
/// slowed by the OS or by a busy sibling holds the others up for microseconds, not for a whole equal share. The
/// matrices of one run (a <c>MultiplyEach</c> call, or everything queued with <see cref="Enqueue"/>) share the chunks,
/// their rows numbered one after another, so the threads meet at one barrier per run. Within a chunk a
/// tile of weight rows is dotted with every batch row before the next tile, so each weight byte comes from memory
/// once per call however large the batch (the MoE grouped-expert and prefill case). Where a multi-row kernel exists
/// (<see cref="VecDot.MultiKernel"/>) each weight block is also unpacked once for up to four batch rows.
/// </remarks>
public sealed unsafe class MatMul : IParallelTask
{
    // Each chunk takes this fraction of the work still unassigned, per thread: 1/(2·threads).
    const int GuidedShareDivisor = 2;
    const int MinRowsPerChunk = 4;
    // A chunk with less work than this (weight bytes × batch rows) costs more to hand to another thread than to
    // compute here: a router's few rows run inline.
    const long MinChunkWork = 16 << 10;
    const int MaxChunks = 512;
    const int RowTile = 16;
    const int BatchTile = 32;
    /// <summary>Matrices one run can hold; enqueueing more runs the queue first.</summary>
    public const int MaxParts = 64;

    readonly ComputePool _pool;

    /// <summary>One matrix of the run being prepared or in flight; a run's matrices number their rows one after another.</summary>
    struct Part
    {
        public WeightMatrix W;
        public delegate*<byte*, byte*, int, float> Kernel;
        public delegate*<byte*, byte*, nint, int, float*, nint, int, void> MultiKernel;
        public int MultiRows;
        public byte* X;
        public int XRowBytes;
        public int Batch;
        public float* Y;
        public int YStride;
        public int FirstRow;
        public float* Source; // the unconverted input, to share one conversion between parts that read the same rows
    }

    readonly Part[] _parts = new Part[MaxParts];
    readonly QuantizedActivations?[] _scratch = new QuantizedActivations?[MaxParts];
    int _partCount;
    readonly int[] _chunkStart = new int[MaxChunks + 1];
    readonly int[] _chunkFirstPart = new int[MaxChunks];

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
        CheckInput(w, x, batch);
        CheckOutput(w, batch, y, yStride);
        fixed (float* px = x)
        fixed (float* py = y)
        {
            Enqueue(w, px, batch, py, yStride);
            RunQueued();
        }
    }

    /// <summary>
    /// y0 = x·W0ᵀ and y1 = x·W1ᵀ for two matrices that read the same input (an FFN's gate and up): the input is
    /// converted once where the weights share a vec-dot type, and both matrices are split across the pool in one run.
    /// </summary>
    public void MultiplyEach(ReadOnlySpan<float> x, int batch, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1)
    {
        CheckInput(w0, x, batch);
        CheckInput(w1, x, batch);
        CheckOutput(w0, batch, y0, w0.Rows);
        CheckOutput(w1, batch, y1, w1.Rows);
        fixed (float* px = x)
        fixed (float* p0 = y0)
        fixed (float* p1 = y1)
        {
            Enqueue(w0, px, batch, p0, w0.Rows);
            Enqueue(w1, px, batch, p1, w1.Rows);
            RunQueued();
        }
    }

    /// <summary>Three matrices over one input (attention's Q, K and V projections); see the two-matrix overload.</summary>
    public void MultiplyEach(ReadOnlySpan<float> x, int batch, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1, in WeightMatrix w2, Span<float> y2)
    {
        CheckInput(w0, x, batch);
        CheckInput(w1, x, batch);
        CheckInput(w2, x, batch);
        CheckOutput(w0, batch, y0, w0.Rows);
        CheckOutput(w1, batch, y1, w1.Rows);
        CheckOutput(w2, batch, y2, w2.Rows);
        fixed (float* px = x)
        fixed (float* p0 = y0)
        fixed (float* p1 = y1)
        fixed (float* p2 = y2)
        {
            Enqueue(w0, px, batch, p0, w0.Rows);
            Enqueue(w1, px, batch, p1, w1.Rows);
            Enqueue(w2, px, batch, p2, w2.Rows);
            RunQueued();
        }
    }

    /// <summary>y[x.Batch, w.Rows] = x · Wᵀ for activations already converted for w's type (reusable across matrices).</summary>
    public void Multiply(in WeightMatrix w, QuantizedActivations x, Span<float> y) => Multiply(w, x, y, w.Rows);

    /// <summary>y[b·yStride + r] = Σ_c W[r, c]·x[b, c] for activations already converted for w's type.</summary>
    public void Multiply(in WeightMatrix w, QuantizedActivations x, Span<float> y, int yStride)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Type != VecDot.TypeFor(w.Type) || x.Cols != w.Cols)
            throw new ArgumentException($"activations are {x.Batch}×{x.Cols} {x.Type}; {w.Type} weights with {w.Cols} columns need {VecDot.TypeFor(w.Type)}", nameof(x));
        CheckOutput(w, x.Batch, y, yStride);
        RunQueued();
        fixed (float* py = y)
        {
            ref var part = ref NewPart(w, py, yStride, x.Batch);
            part.X = x.Data;
            part.XRowBytes = x.RowBytes;
            RunQueued();
        }
    }

    /// <summary>
    /// Queues y[b·yStride + r] = Σ_c W[r, c]·x[b, c] for x[batch, w.Cols] to run with the other queued products in
    /// one pool run (<see cref="RunQueued"/>): the experts of a MoE layer, each over its own rows. The input is
    /// converted now; parts that follow each other over the same <paramref name="x"/> share one conversion.
    /// </summary>
    /// <remarks>x and y must stay where they are until the run: pinned or native memory.</remarks>
    public void Enqueue(in WeightMatrix w, float* x, int batch, float* y, int yStride)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "must not be negative");
        if (yStride < w.Rows) throw new ArgumentOutOfRangeException(nameof(yStride), yStride, $"must be at least {w.Rows}");
        if (_partCount == MaxParts) RunQueued();
        int index = _partCount;
        ref var part = ref NewPart(w, y, yStride, batch);
        part.Source = x;
        ref readonly var previous = ref _parts[Math.Max(0, index - 1)];
        if (index > 0 && previous.Source == x && previous.Batch == batch && previous.W.Cols == w.Cols && VecDot.TypeFor(previous.W.Type) == VecDot.TypeFor(w.Type))
        {
            part.X = previous.X;
            part.XRowBytes = previous.XRowBytes;
            return;
        }
        var scratch = _scratch[index] ??= new QuantizedActivations();
        scratch.Quantize(w.Type, new ReadOnlySpan<float>(x, checked(batch * w.Cols)), w.Cols, batch, batch >= 8 ? _pool : null);
        part.X = scratch.Data;
        part.XRowBytes = scratch.RowBytes;
    }

    /// <summary>Runs every queued product across the pool and empties the queue.</summary>
    public void RunQueued()
    {
        int count = _partCount;
        if (count == 0) return;
        try
        {
            int chunks = PlanChunks(count);
            if (chunks > 0) _pool.Run(this, chunks);
        }
        finally
        {
            _partCount = 0;
            for (int i = 0; i < count; i++)
            {
                _parts[i].X = null;
                _parts[i].Y = null;
                _parts[i].Source = null;
            }
        }
    }

    ref Part NewPart(in WeightMatrix w, float* y, int yStride, int batch)
    {
        int i = _partCount++;
        ref var part = ref _parts[i];
        part.W = w;
        part.Kernel = VecDot.Kernel(w.Type, Isa);
        part.MultiKernel = VecDot.MultiKernel(w.Type, Isa);
        part.MultiRows = VecDot.MultiKernelRows(w.Type, Isa);
        part.Y = y;
        part.YStride = yStride;
        part.Batch = batch;
        part.FirstRow = i == 0 ? 0 : _parts[i - 1].FirstRow + _parts[i - 1].W.Rows;
        return ref part;
    }

    static void CheckInput(in WeightMatrix w, ReadOnlySpan<float> x, int batch)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "must not be negative");
        if (x.Length < (long)batch * w.Cols) throw new ArgumentException($"x holds {x.Length} values, need {batch}×{w.Cols}", nameof(x));
    }

    static void CheckOutput(in WeightMatrix w, int batch, Span<float> y, int yStride)
    {
        if (yStride < w.Rows) throw new ArgumentOutOfRangeException(nameof(yStride), yStride, $"must be at least {w.Rows}");
        if (batch > 0 && w.Rows > 0 && y.Length < (long)(batch - 1) * yStride + w.Rows)
            throw new ArgumentException($"y holds {y.Length} values, need {batch} rows of stride {yStride}", nameof(y));
    }

    /// <summary>
    /// Splits the queued rows into guided chunks by work (weight bytes × batch rows): each chunk takes
    /// 1/(2·threads) of the work left, at least <see cref="MinChunkWork"/> and <see cref="MinRowsPerChunk"/> rows.
    /// Fills the chunk boundaries and returns the chunk count.
    /// </summary>
    int PlanChunks(int count)
    {
        int threads = _pool.ThreadCount;
        long remaining = 0;
        for (int i = 0; i < count; i++) remaining += Work(i) * _parts[i].W.Rows;
        int chunks = 0, part = 0, row = 0;
        int totalRows = _parts[count - 1].FirstRow + _parts[count - 1].W.Rows;
        while (remaining > 0 && row < totalRows)
        {
            long target = threads == 1 || chunks == MaxChunks - 1 ? remaining : Math.Max(MinChunkWork, remaining / (GuidedShareDivisor * threads));
            while (row >= _parts[part].FirstRow + _parts[part].W.Rows) part++;
            _chunkStart[chunks] = row;
            _chunkFirstPart[chunks] = part;
            chunks++;
            long taken = 0;
            while (taken < target && row < totalRows)
            {
                while (row >= _parts[part].FirstRow + _parts[part].W.Rows) part++;
                long perRow = Math.Max(1, Work(part));
                int partEnd = _parts[part].FirstRow + _parts[part].W.Rows;
                long wanted = Math.Max(MinRowsPerChunk, (target - taken + perRow - 1) / perRow);
                int take = (int)Math.Min(wanted, partEnd - row);
                row += take;
                taken += take * perRow;
            }
            remaining -= taken;
        }
        _chunkStart[chunks] = totalRows;
        return chunks;
    }

    long Work(int part) => (long)_parts[part].W.RowBytes * _parts[part].Batch;

    void IParallelTask.Execute(int chunk)
    {
        int start = _chunkStart[chunk];
        int end = _chunkStart[chunk + 1];
        for (int i = _chunkFirstPart[chunk]; i < _partCount; i++)
        {
            ref readonly var part = ref _parts[i];
            if (part.FirstRow >= end) break;
            int lo = Math.Max(start, part.FirstRow) - part.FirstRow;
            int hi = Math.Min(end, part.FirstRow + part.W.Rows) - part.FirstRow;
            if (lo < hi) Rows(part, lo, hi);
        }
    }

    /// <summary>Rows [rowStart, rowEnd) of one part for the part's whole batch.</summary>
    static void Rows(in Part part, int rowStart, int rowEnd)
    {
        int cols = part.W.Cols;
        int rowBytes = part.W.RowBytes;
        var kernel = part.Kernel;
        var multiKernel = part.MultiKernel;
        int multiRows = part.MultiRows;
        byte* data = part.W.Data;
        byte* x = part.X;
        int xRowBytes = part.XRowBytes;
        int batch = part.Batch;
        float* y = part.Y;
        int yStride = part.YStride;
        if (batch == 1)
        {
            for (int r = rowStart; r < rowEnd; r++) y[r] = kernel(data + (long)r * rowBytes, x, cols);
            return;
        }
        for (int r0 = rowStart; r0 < rowEnd; r0 += RowTile)
        {
            int r1 = Math.Min(rowEnd, r0 + RowTile);
            for (int b0 = 0; b0 < batch; b0 += BatchTile)
            {
                int b1 = Math.Min(batch, b0 + BatchTile);
                for (int r = r0; r < r1; r++)
                {
                    byte* wr = data + (long)r * rowBytes;
                    if (multiKernel != null)
                    {
                        for (int b = b0; b < b1; b += multiRows)
                            multiKernel(wr, x + (long)b * xRowBytes, xRowBytes, cols, y + (long)b * yStride + r, yStride, Math.Min(multiRows, b1 - b));
                    }
                    else
                    {
                        for (int b = b0; b < b1; b++)
                            y[(long)b * yStride + r] = kernel(wr, x + (long)b * xRowBytes, cols);
                    }
                }
            }
        }
    }
}

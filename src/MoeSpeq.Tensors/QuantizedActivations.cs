namespace MoeSpeq.Tensors;

/// <summary>
/// A batch of activation rows converted once to the vec-dot type of a weight type, so several matrices of that
/// type (an expert's gate and up projections) can be multiplied by the same input without converting it again.
/// Owns a pinned buffer that grows only when a larger batch arrives: steady-state use allocates nothing.
/// </summary>
public sealed unsafe class QuantizedActivations : IParallelTask
{
    byte[] _buffer = [];
    byte* _data;
    float* _source;

    /// <summary>The vec-dot type the rows are stored in (<see cref="VecDot.TypeFor"/> of the weight type).</summary>
    public GgmlType Type { get; private set; } = GgmlType.F32;

    /// <summary>Elements per row.</summary>
    public int Cols { get; private set; }

    /// <summary>Rows held.</summary>
    public int Batch { get; private set; }

    /// <summary>Bytes per converted row.</summary>
    public int RowBytes { get; private set; }

    /// <summary>Converted row <paramref name="b"/>.</summary>
    public ReadOnlySpan<byte> Row(int b)
    {
        if ((uint)b >= (uint)Batch) throw new ArgumentOutOfRangeException(nameof(b));
        return new ReadOnlySpan<byte>(_data + (long)b * RowBytes, RowBytes);
    }

    internal byte* Data => _data;

    /// <summary>
    /// Converts x[batch, cols] for a dot with <paramref name="weightType"/> weights, one row at a time as llama.cpp does.
    /// With a <paramref name="pool"/> the rows are converted in parallel (worth it for prefill-sized batches).
    /// </summary>
    public void Quantize(GgmlType weightType, ReadOnlySpan<float> x, int cols, int batch, ComputePool? pool = null)
    {
        if (cols < 0 || batch < 0) throw new ArgumentOutOfRangeException(nameof(cols), "negative shape");
        if (x.Length < (long)cols * batch) throw new ArgumentException($"x holds {x.Length} values, need {batch}×{cols}", nameof(x));
        var type = VecDot.TypeFor(weightType);
        int rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        long total = (long)rowBytes * batch;
        if (total > Array.MaxLength) throw new ArgumentException($"{batch} rows of {rowBytes} bytes exceed one buffer");
        if (_buffer.Length < total)
        {
            _buffer = GC.AllocateUninitializedArray<byte>((int)total, pinned: true);
            _data = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _buffer[0]);
        }
        Type = type;
        Cols = cols;
        Batch = batch;
        RowBytes = rowBytes;
        fixed (float* px = x)
        {
            _source = px;
            if (pool is not null && batch >= 4) pool.Run(this, batch);
            else for (int b = 0; b < batch; b++) ((IParallelTask)this).Execute(b);
            _source = null;
        }
    }

    void IParallelTask.Execute(int b) =>
        VecDot.QuantizeActivation(Type, _source + (long)b * Cols, _data + (long)b * RowBytes, Cols);
}

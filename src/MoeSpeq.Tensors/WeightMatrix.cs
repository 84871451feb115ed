namespace MoeSpeq.Tensors;

/// <summary>
/// A read-only view of a row-major matrix of <see cref="Rows"/> rows × <see cref="Cols"/> elements stored in one
/// of the ggml types, over memory owned elsewhere (a mapped file, a cache slot, a native buffer). In GGUF terms
/// Cols is ne0 and Rows is ne1: each row is one output feature's weights.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public WeightMatrix(GgmlType type, int rows, int cols, byte* data)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(rows), "negative shape");
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypeInfo.RowBytes(type, cols);
        Data = data;
    }

    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int RowBytes { get; }
    public byte* Data { get; }

    public long ByteLength => (long)RowBytes * Rows;

    public ReadOnlySpan<byte> Row(int row)
    {
        System.Diagnostics.Debug.Assert((uint)row < (uint)Rows);
        return new ReadOnlySpan<byte>(Data + (long)row * RowBytes, RowBytes);
    }

    /// <summary>Rows [start, start + count) as a matrix of their own (no copy).</summary>
    public WeightMatrix SliceRows(int start, int count)
    {
        if ((uint)start > (uint)Rows || (uint)count > (uint)(Rows - start)) throw new ArgumentOutOfRangeException(nameof(start));
        return new WeightMatrix(Type, count, Cols, Data + (long)start * RowBytes);
    }
}

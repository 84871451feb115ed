using System.IO.MemoryMappedFiles;
using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// An open GGUF file: its validated header, and its tensor data mapped read-only from the file. Tensor bytes are
/// never copied into managed memory; pointers stay valid until the file is disposed.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>Magic, version and the two counts: the least a file must hold to be worth mapping.</summary>
    const int MinHeaderBytes = 24;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;
    bool _disposed;

    GgufFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, GgufHeader header)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _base = basePointer;
        Header = header;
    }

    public string Path { get; }
    public long Length { get; }
    public GgufHeader Header { get; }

    /// <summary>
    /// Opens and validates <paramref name="path"/>; throws <see cref="FileNotFoundException"/> when it does not
    /// exist and <see cref="GgufFormatException"/> for a bad file.
    /// </summary>
    public static GgufFile Open(string path)
    {
        // One open handle gives the length and backs the mapping, so the file cannot change size in between.
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            long length = stream.Length;
            // Mapping an empty file is an error of its own; a short file is reported as what it is.
            if (length < MinHeaderBytes)
                throw new GgufFormatException("header", 0, $"file holds {length} bytes, fewer than the {MinHeaderBytes} of a GGUF header (truncated?)");
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            acquired = true;
            // The view may start before the requested offset on page boundaries; the usable pointer adds PointerOffset.
            p += view.PointerOffset;
            var header = GgufReader.Parse(p, length);
            return new GgufFile(path, length, map, view, p, header);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Address of the first byte of the mapped file.</summary>
    public byte* BasePointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _base;
        }
    }

    /// <summary>Absolute file offset of a tensor's first byte.</summary>
    public long FileOffset(GgufTensorInfo tensor) => Header.DataOffset + tensor.DataOffset;

    /// <summary>
    /// Address of a tensor's first byte. The tensor must lie inside this file: infos from another file (or made
    /// up) would otherwise point past the mapping.
    /// </summary>
    public byte* TensorPointer(GgufTensorInfo tensor)
    {
        long available = Length - Header.DataOffset;
        if (tensor.DataOffset < 0 || tensor.ByteSize < 0 || tensor.DataOffset > available - tensor.ByteSize)
            throw new ArgumentException($"{tensor.Name} ({tensor.ByteSize} bytes at data offset {tensor.DataOffset}) does not lie inside {Path}", nameof(tensor));
        return BasePointer + FileOffset(tensor);
    }

    /// <summary>The tensor's bytes; for tensors of 2 GiB or more use <see cref="TensorPointer"/> with per-row views.</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue) throw new InvalidOperationException($"{tensor.Name} is {tensor.ByteSize} bytes; view it by rows or experts");
        return new ReadOnlySpan<byte>(TensorPointer(tensor), (int)tensor.ByteSize);
    }

    /// <summary>
    /// A 2-D view of a tensor: ne0 columns × (product of the other dims) rows. A 3-D stacked-expert tensor is
    /// viewed by <see cref="Matrix(GgufTensorInfo, int)"/> one expert at a time.
    /// </summary>
    public WeightMatrix Matrix(GgufTensorInfo tensor) => Matrix(tensor, TensorPointer(tensor));

    /// <summary>As <see cref="Matrix(GgufTensorInfo)"/>, over a copy of the tensor's bytes at <paramref name="data"/>.</summary>
    public WeightMatrix Matrix(GgufTensorInfo tensor, byte* data)
    {
        long cols = tensor.Dim(0);
        long rows = cols == 0 ? 0 : tensor.ElementCount / cols;
        CheckMatrixShape(tensor, rows, cols, tensor.ByteSize);
        return new WeightMatrix(tensor.Type, (int)rows, (int)cols, data);
    }

    /// <summary>
    /// Slice <paramref name="index"/> along ne2 of a 3-D tensor [ne0, ne1, ne2]: one expert of a stacked expert
    /// tensor, ne1 rows × ne0 columns.
    /// </summary>
    public WeightMatrix Matrix(GgufTensorInfo tensor, int index) => Matrix(tensor, index, TensorPointer(tensor));

    /// <summary>As <see cref="Matrix(GgufTensorInfo, int)"/>, over a copy of the tensor's bytes at <paramref name="data"/>.</summary>
    public WeightMatrix Matrix(GgufTensorInfo tensor, int index, byte* data)
    {
        if (tensor.Dimensions.Length != 3)
            throw new InvalidOperationException($"{tensor.Name} {tensor.ShapeText} is not a 3-D stacked tensor");
        if (index < 0 || index >= tensor.Dim(2))
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{tensor.Name} {tensor.ShapeText} has {tensor.Dim(2)} slices");
        long cols = tensor.Dim(0);
        long rows = tensor.Dim(1);
        CheckMatrixShape(tensor, rows, cols, tensor.ByteSize / tensor.Dim(2));
        long sliceBytes = GgmlTypeInfo.RowBytes(tensor.Type, (int)cols) * rows;
        return new WeightMatrix(tensor.Type, (int)rows, (int)cols, data + sliceBytes * index);
    }

    /// <summary>
    /// A <see cref="WeightMatrix"/> indexes rows and row bytes with <see cref="int"/>, and its rows must fit in the
    /// <paramref name="availableBytes"/> the tensor declares (an info not read from this file might not agree).
    /// </summary>
    static void CheckMatrixShape(GgufTensorInfo tensor, long rows, long cols, long availableBytes)
    {
        if (rows > int.MaxValue || cols > int.MaxValue || GgmlTypeInfo.TryRowBytes(tensor.Type, cols) is not long rowBytes || rowBytes > int.MaxValue)
            throw new InvalidOperationException($"{tensor.Name} {tensor.ShapeText} is too large for one matrix view");
        if (rowBytes * rows > availableBytes)
            throw new ArgumentException($"{tensor.Name} declares {tensor.ByteSize} bytes, too few for its shape {tensor.ShapeText}", nameof(tensor));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

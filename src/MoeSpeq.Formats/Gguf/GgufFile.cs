using System.IO.MemoryMappedFiles;
using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// An open GGUF file: its validated header, and its tensor data mapped read-only from the file. Tensor bytes are
/// never copied into managed memory; pointers stay valid until the file is disposed.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
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

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="GgufFormatException"/> for a bad file.</summary>
    public static GgufFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"model file not found: {path}", path);
        long length = info.Length;
        if (length < 24) throw new GgufFormatException("header", 0, $"file holds {length} bytes, fewer than a GGUF header (truncated?)");

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
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
            map.Dispose();
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

    public byte* TensorPointer(GgufTensorInfo tensor) => BasePointer + FileOffset(tensor);

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
    public WeightMatrix Matrix(GgufTensorInfo tensor)
    {
        long rows = tensor.ElementCount / Math.Max(tensor.Dim(0), 1);
        if (rows > int.MaxValue || tensor.Dim(0) > int.MaxValue) throw new InvalidOperationException($"{tensor.Name} {tensor.ShapeText} is too large for one matrix view");
        return new WeightMatrix(tensor.Type, (int)rows, (int)tensor.Dim(0), TensorPointer(tensor));
    }

    /// <summary>Slice <paramref name="index"/> along ne2 of a 3-D tensor (one expert of a stacked expert tensor).</summary>
    public WeightMatrix Matrix(GgufTensorInfo tensor, int index)
    {
        if ((uint)index >= (ulong)tensor.Dim(2)) throw new ArgumentOutOfRangeException(nameof(index), $"{tensor.Name} has {tensor.Dim(2)} slices");
        int cols = checked((int)tensor.Dim(0));
        int rows = checked((int)tensor.Dim(1));
        long sliceBytes = (long)GgmlTypeInfo.RowBytes(tensor.Type, cols) * rows;
        return new WeightMatrix(tensor.Type, rows, cols, TensorPointer(tensor) + sliceBytes * index);
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

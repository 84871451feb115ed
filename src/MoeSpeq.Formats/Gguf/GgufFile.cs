using System.Runtime.InteropServices;
using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// An open model: its validated header, and its tensor data mapped read-only from one or more files. Tensor bytes are
/// never copied into managed memory; pointers stay valid until the file is disposed.
/// </summary>
/// <remarks>
/// A GGUF file is one file. A Hugging Face model directory (config.json and safetensors shards) is presented as the
/// same abstraction (<see cref="Compose"/>): a header whose metadata keys and tensor names are those a converter to
/// GGUF would have written, whose tensors each name the shard (<see cref="GgufTensorInfo.File"/>) and offset that hold
/// them, and, where the converter would have rearranged a tensor (llama's Q/K rows), the rearrangement to make
/// when the tensor is loaded (<see cref="GgufTensorInfo.Rearrangement"/>). Architectures read one kind of header and
/// one tensor table whatever the checkpoint format, so each is written once, against GGUF names.
/// </remarks>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>Magic, version and the two counts: the least a file must hold to be worth mapping.</summary>
    const int MinHeaderBytes = 24;

    readonly MappedFile[] _files;
    readonly long[] _dataOrigins;
    readonly Dictionary<string, nint> _rearranged = new(StringComparer.Ordinal);
    bool _disposed;

    GgufFile(string path, GgufHeader header, MappedFile[] files, long[] dataOrigins)
    {
        Path = path;
        Header = header;
        _files = files;
        _dataOrigins = dataOrigins;
        Length = files.Sum(f => f.Length);
    }

    /// <summary>The GGUF file, or the model directory.</summary>
    public string Path { get; }
    /// <summary>Bytes in all of the model's files.</summary>
    public long Length { get; }
    public GgufHeader Header { get; }

    /// <summary>The mapped files that hold tensor data, indexed by <see cref="GgufTensorInfo.File"/>.</summary>
    public IReadOnlyList<MappedFile> Files => _files;

    /// <summary>The paths of <see cref="Files"/>.</summary>
    public IReadOnlyList<string> FilePaths => [.. _files.Select(f => f.Path)];

    /// <summary>Absolute offset in file <paramref name="file"/> where its tensors' data offsets count from (after its header).</summary>
    public long DataOrigin(int file) => _dataOrigins[file];

    /// <summary>
    /// Opens and validates <paramref name="path"/>; throws <see cref="FileNotFoundException"/> when it does not
    /// exist and <see cref="GgufFormatException"/> for a bad file.
    /// </summary>
    public static GgufFile Open(string path)
    {
        var file = MappedFile.Open(path, length =>
        {
            // Mapping an empty file is an error of its own; a short file is reported as what it is.
            if (length < MinHeaderBytes)
                throw new GgufFormatException("header", 0, $"file holds {length} bytes, fewer than the {MinHeaderBytes} of a GGUF header (truncated?)");
        });
        try
        {
            var header = GgufReader.Parse(file.BasePointer, file.Length);
            return new GgufFile(path, header, [file], [header.DataOffset]);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A model whose <paramref name="header"/> was built rather than read (a Hugging Face directory): its tensors lie
    /// in <paramref name="files"/>, each with the offset its data offsets count from. Takes ownership of the files,
    /// also when it throws. Every tensor must lie inside its file, rearranged ones with their source bytes.
    /// </summary>
    public static GgufFile Compose(string path, GgufHeader header, IReadOnlyList<(MappedFile File, long DataOrigin)> files)
    {
        try
        {
            foreach (var t in header.Tensors)
            {
                if ((uint)t.File >= (uint)files.Count)
                    throw new ArgumentException($"{t.Describe()} names file {t.File} of {files.Count}");
                var (f, origin) = files[t.File];
                long available = f.Length - origin;
                if (t.DataOffset < 0 || t.StoredBytes < 0 || t.DataOffset > available - t.StoredBytes)
                    throw new ArgumentException($"{t.Describe()} ({t.StoredBytes} bytes at data offset {t.DataOffset}) does not lie inside {f.Path}");
                if (t.Rearrangement is { } r && (r.OutputBytes != t.ByteSize || GgmlTypeInfo.TryRowBytes(t.Type, 1) != r.ElementSize))
                    throw new ArgumentException($"{t.Describe()}: its rearrangement ({r}) does not give {t.ByteSize} bytes of {t.Type} elements");
            }
            return new GgufFile(path, header, [.. files.Select(f => f.File)], [.. files.Select(f => f.DataOrigin)]);
        }
        catch
        {
            foreach (var (f, _) in files) f.Dispose();
            throw;
        }
    }

    /// <summary>Address of the first byte of the (first) mapped file.</summary>
    public byte* BasePointer => _files[0].BasePointer;

    /// <summary>Absolute offset, in its file (<see cref="GgufTensorInfo.File"/>), of a stored tensor's first byte.</summary>
    public long FileOffset(GgufTensorInfo tensor)
    {
        if (tensor.Rearrangement is not null)
            throw new InvalidOperationException($"{tensor.Describe()} is rearranged at load: it has no bytes of its own in {_files[tensor.File].Path}");
        return _dataOrigins[tensor.File] + tensor.DataOffset;
    }

    /// <summary>Absolute offset, in its file, of the bytes a tensor is read from: the source of a rearranged tensor.</summary>
    public long SourceOffset(GgufTensorInfo tensor) => _dataOrigins[tensor.File] + tensor.DataOffset;

    /// <summary>
    /// Address of a tensor's first byte: in the mapping, or, for a rearranged tensor, in memory this file made and
    /// keeps until disposed. The tensor must lie inside its file: infos from another file (or made up) would
    /// otherwise point past the mapping.
    /// </summary>
    public byte* TensorPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)tensor.File >= (uint)_files.Length)
            throw new ArgumentException($"{tensor.Describe()} names file {tensor.File}, but {Path} has {_files.Length}", nameof(tensor));
        var f = _files[tensor.File];
        long available = f.Length - _dataOrigins[tensor.File];
        if (tensor.DataOffset < 0 || tensor.StoredBytes < 0 || tensor.DataOffset > available - tensor.StoredBytes)
            throw new ArgumentException($"{tensor.Describe()} ({tensor.StoredBytes} bytes at data offset {tensor.DataOffset}) does not lie inside {f.Path}", nameof(tensor));
        byte* stored = f.BasePointer + SourceOffset(tensor);
        return tensor.Rearrangement is { } r ? Rearranged(tensor, r, stored) : stored;
    }

    byte* Rearranged(GgufTensorInfo tensor, TensorRearrangement r, byte* source)
    {
        lock (_rearranged)
        {
            if (_rearranged.TryGetValue(tensor.Name, out nint ready)) return (byte*)ready;
            if (r.OutputBytes != tensor.ByteSize) throw new ArgumentException($"{tensor.Describe()}: its rearrangement gives {r.OutputBytes} bytes, not {tensor.ByteSize}", nameof(tensor));
            byte* memory = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, tensor.ByteSize), 64);
            r.Apply(source, memory);
            _rearranged[tensor.Name] = (nint)memory;
            return memory;
        }
    }

    /// <summary>Which file's mapping holds the <paramref name="length"/> bytes at <paramref name="data"/>, and where; false when none does.</summary>
    public bool TryLocate(byte* data, long length, out int file, out long offset)
    {
        for (file = 0; file < _files.Length; file++)
            if (_files[file].Contains(data, length, out offset) && offset >= _dataOrigins[file]) return true;
        file = -1;
        offset = -1;
        return false;
    }

    /// <summary>The tensor's bytes; for tensors of 2 GiB or more use <see cref="TensorPointer"/> with per-row views.</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue) throw new InvalidOperationException($"{tensor.Describe()} is {tensor.ByteSize} bytes; view it by rows or experts");
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
            throw new InvalidOperationException($"{tensor.Describe()} {tensor.ShapeText} is not a 3-D stacked tensor");
        if (index < 0 || index >= tensor.Dim(2))
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{tensor.Describe()} {tensor.ShapeText} has {tensor.Dim(2)} slices");
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
            throw new InvalidOperationException($"{tensor.Describe()} {tensor.ShapeText} is too large for one matrix view");
        if (rowBytes * rows > availableBytes)
            throw new ArgumentException($"{tensor.Describe()} declares {tensor.ByteSize} bytes, too few for its shape {tensor.ShapeText}", nameof(tensor));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var f in _files) f.Dispose();
        lock (_rearranged)
        {
            foreach (nint p in _rearranged.Values) NativeMemory.AlignedFree((void*)p);
            _rearranged.Clear();
        }
    }
}

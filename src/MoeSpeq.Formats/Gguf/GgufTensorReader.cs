using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// Copies tensors of a <see cref="GgufFile"/> into memory with read calls on its files (one handle per file, opened
/// on first use), making rearranged tensors on the way. A read call rather than a copy from the mapping: the copy
/// would fault every page in through the map first, and beside a tensor may lie experts a slow tier is meant to
/// keep out of the page cache.
/// </summary>
public sealed unsafe class GgufTensorReader(GgufFile file) : IDisposable
{
    const int MaxChunk = 1 << 30;

    readonly SafeFileHandle?[] _handles = new SafeFileHandle?[file.Files.Count];

    /// <summary>Writes the tensor's <see cref="GgufTensorInfo.ByteSize"/> bytes, as it is used, to <paramref name="destination"/>.</summary>
    public void Read(GgufTensorInfo tensor, byte* destination)
    {
        if (tensor.Rearrangement is not { } r)
        {
            ReadRange(tensor, file.FileOffset(tensor), tensor.ByteSize, destination);
            return;
        }
        byte* source = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, r.SourceBytes), 64);
        try
        {
            ReadRange(tensor, file.SourceOffset(tensor), r.SourceBytes, source);
            r.Apply(source, destination);
        }
        finally
        {
            NativeMemory.AlignedFree(source);
        }
    }

    /// <summary>A tensor's bytes as a new array (vectors and other small tensors).</summary>
    public byte[] ReadArray(GgufTensorInfo tensor)
    {
        var bytes = new byte[tensor.ByteSize];
        fixed (byte* b = bytes) Read(tensor, b);
        return bytes;
    }

    void ReadRange(GgufTensorInfo tensor, long offset, long length, byte* destination)
    {
        var path = file.Files[tensor.File].Path;
        var handle = _handles[tensor.File] ??= File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        for (long done = 0; done < length;)
        {
            int chunk = (int)Math.Min(length - done, MaxChunk);
            int read = RandomAccess.Read(handle, new Span<byte>(destination + done, chunk), offset + done);
            if (read <= 0) throw new IOException($"{path} ended while reading {tensor.Describe()} (offset {offset + done}): was the file truncated?");
            done += read;
        }
    }

    public void Dispose()
    {
        foreach (var h in _handles) h?.Dispose();
        Array.Clear(_handles);
    }
}

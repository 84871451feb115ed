using System.IO.MemoryMappedFiles;

namespace MoeSpeq.Formats;

/// <summary>
/// One file mapped read-only, whole: what GGUF files and safetensors shards are viewed through. The usable address
/// is the view's pointer plus its <c>PointerOffset</c> (the view may start on the page before). Nothing is copied.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;
    bool _disposed;

    MappedFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _base = basePointer;
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>Address of the file's first byte.</summary>
    public byte* BasePointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _base;
        }
    }

    /// <summary>
    /// Maps <paramref name="path"/>; <paramref name="checkLength"/> sees the length first and may throw (an empty
    /// file cannot be mapped, and a short one is better reported as what it is by the format).
    /// </summary>
    public static MappedFile Open(string path, Action<long> checkLength)
    {
        // One open handle gives the length and backs the mapping, so the file cannot change size in between.
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            long length = stream.Length;
            checkLength(length);
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            acquired = true;
            return new MappedFile(path, length, map, view, p + view.PointerOffset);
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

    /// <summary>Whether the <paramref name="length"/> bytes at <paramref name="data"/> lie inside this mapping; their offset if so.</summary>
    public bool Contains(byte* data, long length, out long offset)
    {
        offset = data - _base;
        return !_disposed && length >= 0 && offset >= 0 && offset <= Length - length;
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

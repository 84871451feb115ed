using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MoeSpeq.Experts.Tiers;

/// <summary>
/// Experts read from the model's files on disk: the GGUF file, or each safetensors shard of a model directory. On
/// Linux the files are opened with O_DIRECT, so reads go from the device into cache slots without passing through
/// the page cache: the expert budget is then the memory experts really take. Where the filesystem refuses O_DIRECT
/// (tmpfs, some overlays) reads are buffered and each range is dropped from the page cache right after
/// (posix_fadvise DONTNEED), and <see cref="Description"/> says so.
/// </summary>
public sealed unsafe partial class DiskTier : ISlowTier
{
    const int DirectAlignment = 4096;
    const int ODirect = 0x4000;   // x86-64 and arm64 Linux
    const int PosixFadvDontNeed = 4;
    const int MaxReadChunk = 1 << 30;

    readonly string[] _paths;
    readonly SafeFileHandle[] _files;
    readonly bool _direct;
    readonly string _fallbackReason = "";

    public DiskTier(string path) : this([path]) { }

    /// <param name="paths">The model's files, in the order reads number them.</param>
    public DiskTier(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new ArgumentException("a disk tier needs at least one file", nameof(paths));
        _paths = [.. paths];
        _files = new SafeFileHandle[_paths.Length];
        try
        {
            // All files direct or none, so one alignment serves every read.
            if (OperatingSystem.IsLinux())
            {
                for (int i = 0; i < _paths.Length; i++)
                {
                    int fd = Open(_paths[i], ODirect);
                    if (fd < 0)
                    {
                        _fallbackReason = $": O_DIRECT refused ({Marshal.GetLastPInvokeErrorMessage()})";
                        break;
                    }
                    _files[i] = new SafeFileHandle(fd, ownsHandle: true);
                }
                _direct = _fallbackReason.Length == 0;
                if (_direct) return;
                foreach (var f in _files) f?.Dispose();
            }
            for (int i = 0; i < _paths.Length; i++) _files[i] = File.OpenHandle(_paths[i], FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch
        {
            foreach (var f in _files) f?.Dispose();
            throw;
        }
    }

    public string Name => "disk";
    public bool IsDirect => _direct;
    public string Description => $"disk ({Source}, {(_direct ? "O_DIRECT" : $"buffered + DONTNEED{_fallbackReason}")})";
    public int Alignment => _direct ? DirectAlignment : 1;

    string Source => _paths.Length == 1
        ? Path.GetFileName(_paths[0])
        : $"{_paths.Length} files in {Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(_paths[0])))}";

    public void Read(int file, long offset, long length, byte* destination, CancellationToken cancel)
    {
        Debug.Assert(!_direct || (offset % DirectAlignment == 0 && length % DirectAlignment == 0 && (nint)destination % DirectAlignment == 0));
        if ((uint)file >= (uint)_files.Length) throw new ArgumentOutOfRangeException(nameof(file), file, $"the model has {_files.Length} files");
        var handle = _files[file];
        for (long done = 0; done < length;)
        {
            cancel.ThrowIfCancellationRequested();
            int chunk = (int)Math.Min(length - done, MaxReadChunk);
            int read = RandomAccess.Read(handle, new Span<byte>(destination + done, chunk), offset + done);
            if (read == 0)
            {
                long end = RandomAccess.GetLength(handle);
                // An aligned read may reach past the end of the file; what lies there is padding no matrix uses.
                if (_direct && offset + done >= end && offset + length - end < DirectAlignment)
                {
                    new Span<byte>(destination + done, (int)(length - done)).Clear();
                    break;
                }
                throw new IOException($"{_paths[file]} ended at byte {offset + done} while reading an expert ({offset}+{length}): was the file truncated?");
            }
            done += read;
        }
        if (!_direct && OperatingSystem.IsLinux()) _ = Fadvise(handle, offset, length, PosixFadvDontNeed);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(SafeFileHandle fd, long offset, long length, int advice);
}

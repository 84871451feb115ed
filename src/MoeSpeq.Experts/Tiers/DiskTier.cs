using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MoeSpeq.Experts.Tiers;

/// <summary>
/// Experts read from the model file on disk. On Linux the file is opened with O_DIRECT, so reads go from the device
/// into cache slots without passing through the page cache: the expert budget is then the memory experts really
/// take. Where the filesystem refuses O_DIRECT (tmpfs, some overlays) reads are buffered and each range is dropped
/// from the page cache right after (posix_fadvise DONTNEED), and <see cref="Description"/> says so.
/// </summary>
public sealed unsafe partial class DiskTier : ISlowTier
{
    const int DirectAlignment = 4096;
    const int ODirect = 0x4000;   // x86-64 and arm64 Linux
    const int PosixFadvDontNeed = 4;
    const int MaxReadChunk = 1 << 30;

    readonly string _path;
    readonly SafeFileHandle _file;
    readonly bool _direct;
    readonly string _fallbackReason = "";

    public DiskTier(string path)
    {
        _path = path;
        if (OperatingSystem.IsLinux())
        {
            int fd = Open(path, ODirect);
            if (fd >= 0)
            {
                _file = new SafeFileHandle(fd, ownsHandle: true);
                _direct = true;
                return;
            }
            _fallbackReason = $": O_DIRECT refused ({Marshal.GetLastPInvokeErrorMessage()})";
        }
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
    }

    public string Name => "disk";
    public bool IsDirect => _direct;
    public string Description => _direct ? $"disk ({Path.GetFileName(_path)}, O_DIRECT)" : $"disk ({Path.GetFileName(_path)}, buffered + DONTNEED{_fallbackReason})";
    public int Alignment => _direct ? DirectAlignment : 1;

    public void Read(long offset, long length, byte* destination, CancellationToken cancel)
    {
        Debug.Assert(!_direct || (offset % DirectAlignment == 0 && length % DirectAlignment == 0 && (nint)destination % DirectAlignment == 0));
        for (long done = 0; done < length;)
        {
            cancel.ThrowIfCancellationRequested();
            int chunk = (int)Math.Min(length - done, MaxReadChunk);
            int read = RandomAccess.Read(_file, new Span<byte>(destination + done, chunk), offset + done);
            if (read == 0)
            {
                long end = RandomAccess.GetLength(_file);
                // An aligned read may reach past the end of the file; what lies there is padding no matrix uses.
                if (_direct && offset + done >= end && offset + length - end < DirectAlignment)
                {
                    new Span<byte>(destination + done, (int)(length - done)).Clear();
                    break;
                }
                throw new IOException($"{_path} ended at byte {offset + done} while reading an expert ({offset}+{length}): was the file truncated?");
            }
            done += read;
        }
        if (!_direct && OperatingSystem.IsLinux()) _ = Fadvise(_file, offset, length, PosixFadvDontNeed);
    }

    public void Dispose() => _file.Dispose();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(SafeFileHandle fd, long offset, long length, int advice);
}

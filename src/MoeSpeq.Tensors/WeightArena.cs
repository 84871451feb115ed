using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors;

/// <summary>
/// Anonymous native memory that holds weights the kernels stream every token, carved into 64-byte-aligned pieces
/// by a bump allocator. The block is 2 MiB-aligned and, on Linux, advised for transparent huge pages.
/// </summary>
/// <remarks>
/// Why not serve weights from the file mapping: page-cache pages are the kernel's to reclaim, and a reclaimed page
/// comes back through a fault on the decode path. Proactive reclaim (DAMON, memory ballooning in VMs) does this to
/// pages a model touches every token, and a mapped model then reads at anything from 1 to 35 GB/s pass to pass.
/// Anonymous memory with no swap is never reclaimed, and huge pages cut TLB misses for a multi-GB stream.
/// </remarks>
public sealed unsafe partial class WeightArena : IDisposable
{
    const nuint HugePage = 2 << 20;
    const long PieceAlignment = 64;

    byte* _base;
    nuint _reserved; // capacity rounded up to whole huge pages
    long _used;

    /// <param name="capacity">Bytes to reserve; pages are committed only as pieces are written.</param>
    public WeightArena(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
        if (capacity == 0) return;
        _reserved = ((nuint)capacity + HugePage - 1) / HugePage * HugePage;
        try { _base = (byte*)NativeMemory.AlignedAlloc(_reserved, HugePage); }
        catch (OutOfMemoryException) { throw new OutOfMemoryException($"cannot reserve {capacity:N0} bytes for resident weights"); }
        if (OperatingSystem.IsLinux()) _ = Madvise(_base, _reserved, MadvHugePage); // advice only: without THP the arena still works
    }

    public long Capacity { get; }

    /// <summary>Bytes handed out so far, alignment padding included.</summary>
    public long Used => _used;

    /// <summary>First byte of the arena (null when its capacity is 0).</summary>
    public byte* Base
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base == null && Capacity > 0, this);
            return _base;
        }
    }

    /// <summary>The piece size to reserve for <paramref name="bytes"/> so that pieces stay aligned.</summary>
    public static long PieceSize(long bytes) => (bytes + PieceAlignment - 1) / PieceAlignment * PieceAlignment;

    /// <summary>A 64-byte-aligned piece of <paramref name="bytes"/> bytes, valid until the arena is disposed.</summary>
    public byte* Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long size = PieceSize(bytes);
        if (size > Capacity - _used) throw new InvalidOperationException($"weight arena of {Capacity:N0} bytes cannot hold {bytes:N0} more bytes ({_used:N0} used)");
        byte* piece = Base + _used;
        _used += size;
        return piece;
    }

    /// <summary>
    /// Commits every page now, so that nothing later pays for it. Memory that is filled by direct I/O needs this: the
    /// kernel zeroes a page when a read first targets it, on the reading thread, and a cache slot first filled while a
    /// forward pass waits would put that zeroing (most of the read's time on a VM's untouched memory) on the decode path.
    /// </summary>
    public void Populate()
    {
        if (Capacity == 0) return;
        if (OperatingSystem.IsLinux() && Madvise(Base, _reserved, MadvPopulateWrite) == 0) return;
        // Kernels before 5.14 lack MADV_POPULATE_WRITE: touch one byte per page, spread over the cores as the kernel would not.
        byte* start = Base;
        long pages = (long)(_reserved / 4096);
        Parallel.For(0, Environment.ProcessorCount, worker =>
        {
            for (long page = worker; page < pages; page += Environment.ProcessorCount) start[page * 4096] = 0;
        });
    }

    public void Dispose()
    {
        if (_base == null) return;
        NativeMemory.AlignedFree(_base);
        _base = null;
    }

    const int MadvHugePage = 14;
    const int MadvPopulateWrite = 23;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(void* address, nuint length, int advice);
}

using MoeSpeq.Tensors;

namespace MoeSpeq.Experts.Tiers;

/// <summary>
/// Experts kept in host RAM behind an <see cref="EmulatedLink"/>, as for an accelerator whose expert cache is its
/// own memory: at open, every expert byte range is read out of the model file (through a <see cref="DiskTier"/>, so
/// the file's pages do not stay cached beside the copy) into anonymous memory; a read is then a copy out of it that
/// returns no earlier than the link would have delivered it.
/// </summary>
public sealed unsafe class HostTier : ISlowTier
{
    /// <summary>A range of the file held at <see cref="Memory"/>.</summary>
    readonly record struct Held(long Offset, long Length, nint Memory);

    readonly string _path;
    readonly WeightArena _memory;
    readonly Held[] _held; // by file offset, disjoint
    readonly EmulatedLink _link;
    readonly string _source; // how the file was read at open

    /// <param name="ranges">File ranges to hold (an <see cref="ExpertCatalog"/>'s <see cref="ExpertCatalog.FileRanges"/>); they may overlap.</param>
    public HostTier(string path, IEnumerable<(long Offset, long Length)> ranges, EmulatedLink link)
    {
        _path = path;
        _link = link;
        using var disk = new DiskTier(path);
        var merged = Merge(ranges, disk.Alignment);
        // Widened lengths are multiples of the disk's alignment, so every piece stays aligned for O_DIRECT.
        _memory = new WeightArena(merged.Sum(r => WeightArena.PieceSize(r.Length)));
        try
        {
            _held = new Held[merged.Count];
            for (int i = 0; i < merged.Count; i++)
            {
                var (offset, length) = merged[i];
                byte* piece = _memory.Allocate(length);
                disk.Read(offset, length, piece, CancellationToken.None);
                _held[i] = new Held(offset, length, (nint)piece);
            }
            HeldBytes = merged.Sum(r => r.Length);
            _source = disk.IsDirect ? "O_DIRECT" : "buffered + DONTNEED";
        }
        catch
        {
            _memory.Dispose();
            throw;
        }
    }

    public string Name => "host";
    public int Alignment => 1;
    /// <summary>Bytes of the file held in RAM.</summary>
    public long HeldBytes { get; }
    public EmulatedLink Link => _link;

    public string Description => $"host RAM ({HeldBytes / 1e6:F1} MB of {Path.GetFileName(_path)}, copied at load {_source}) over an emulated link of " +
        $"{_link.BandwidthGBps:G4} GB/s and {_link.LatencyMicroseconds:G4} µs latency";

    public void Read(long offset, long length, byte* destination, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var held = Find(offset, length);
        long done = _link.Book(length);
        Buffer.MemoryCopy((byte*)held.Memory + (offset - held.Offset), destination, length, length);
        EmulatedLink.WaitUntil(done, cancel);
    }

    Held Find(long offset, long length)
    {
        int lo = 0, hi = _held.Length - 1;
        while (lo <= hi) // the last range starting at or before offset
        {
            int mid = (lo + hi) >>> 1;
            if (_held[mid].Offset <= offset) lo = mid + 1;
            else hi = mid - 1;
        }
        if (hi < 0 || offset + length > _held[hi].Offset + _held[hi].Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} of {_path} is not held in host RAM (not an expert range)");
        return _held[hi];
    }

    /// <summary>The ranges widened to <paramref name="alignment"/>, sorted, with the ones that touch or overlap joined.</summary>
    static List<(long Offset, long Length)> Merge(IEnumerable<(long Offset, long Length)> ranges, int alignment)
    {
        var merged = new List<(long Offset, long Length)>();
        foreach (var (offset, length) in ranges
                     .Select(r => (Start: r.Offset / alignment * alignment, End: (r.Offset + r.Length + alignment - 1) / alignment * alignment))
                     .OrderBy(r => r.Start)
                     .Select(r => (r.Start, r.End - r.Start)))
        {
            if (merged.Count > 0 && offset <= merged[^1].Offset + merged[^1].Length)
            {
                var last = merged[^1];
                merged[^1] = (last.Offset, Math.Max(last.Length, offset + length - last.Offset));
            }
            else merged.Add((offset, length));
        }
        return merged;
    }

    public void Dispose() => _memory.Dispose();
}

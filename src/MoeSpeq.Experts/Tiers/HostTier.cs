using MoeSpeq.Tensors;

namespace MoeSpeq.Experts.Tiers;

/// <summary>
/// Experts kept in host RAM behind an <see cref="EmulatedLink"/>, as for an accelerator whose expert cache is its
/// own memory: at open, every expert byte range is read out of the model's files (through a <see cref="DiskTier"/>,
/// so the files' pages do not stay cached beside the copy) into anonymous memory; a read is then a copy out of it
/// that returns no earlier than the link would have delivered it.
/// </summary>
public sealed unsafe class HostTier : ISlowTier
{
    /// <summary>A range of one of the files held at <see cref="Memory"/>.</summary>
    readonly record struct Held(int File, long Offset, long Length, nint Memory);

    readonly string _name;
    readonly WeightArena _memory;
    readonly Held[] _held; // by file, then offset; disjoint
    readonly EmulatedLink _link;
    readonly string _source; // how the file was read at open

    public HostTier(string path, IEnumerable<(long Offset, long Length)> ranges, EmulatedLink link)
        : this([path], ranges.Select(r => (0, r.Offset, r.Length)), link) { }

    /// <param name="paths">The model's files, in the order ranges and reads number them.</param>
    /// <param name="ranges">File ranges to hold (an <see cref="ExpertCatalog"/>'s <see cref="ExpertCatalog.FileRanges"/>); they may overlap.</param>
    public HostTier(IReadOnlyList<string> paths, IEnumerable<(int File, long Offset, long Length)> ranges, EmulatedLink link)
    {
        _name = paths.Count == 1 ? Path.GetFileName(paths[0]) : $"{paths.Count} files";
        _link = link;
        using var disk = new DiskTier(paths);
        var merged = Merge(ranges, disk.Alignment);
        // Widened lengths are multiples of the disk's alignment, so every piece stays aligned for O_DIRECT.
        _memory = new WeightArena(merged.Sum(r => WeightArena.PieceSize(r.Length)));
        try
        {
            _held = new Held[merged.Count];
            for (int i = 0; i < merged.Count; i++)
            {
                var (file, offset, length) = merged[i];
                byte* piece = _memory.Allocate(length);
                disk.Read(file, offset, length, piece, CancellationToken.None);
                _held[i] = new Held(file, offset, length, (nint)piece);
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

    public string Description => $"host RAM ({HeldBytes / 1e6:F1} MB of {_name}, copied at load {_source}) over an emulated link of " +
        $"{_link.BandwidthGBps:G4} GB/s and {_link.LatencyMicroseconds:G4} µs latency";

    public void Read(int file, long offset, long length, byte* destination, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var held = Find(file, offset, length);
        long done = _link.Book(length);
        Buffer.MemoryCopy((byte*)held.Memory + (offset - held.Offset), destination, length, length);
        EmulatedLink.WaitUntil(done, cancel);
    }

    Held Find(int file, long offset, long length)
    {
        int lo = 0, hi = _held.Length - 1;
        while (lo <= hi) // the last range starting at or before (file, offset)
        {
            int mid = (lo + hi) >>> 1;
            if (_held[mid].File < file || (_held[mid].File == file && _held[mid].Offset <= offset)) lo = mid + 1;
            else hi = mid - 1;
        }
        if (hi < 0 || _held[hi].File != file || offset + length > _held[hi].Offset + _held[hi].Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} of file {file} ({_name}) is not held in host RAM (not an expert range)");
        return _held[hi];
    }

    /// <summary>The ranges widened to <paramref name="alignment"/>, sorted, with the ones of a file that touch or overlap joined.</summary>
    static List<(int File, long Offset, long Length)> Merge(IEnumerable<(int File, long Offset, long Length)> ranges, int alignment)
    {
        var merged = new List<(int File, long Offset, long Length)>();
        foreach (var (file, offset, length) in ranges
                     .Select(r => (r.File, Start: r.Offset / alignment * alignment, End: (r.Offset + r.Length + alignment - 1) / alignment * alignment))
                     .OrderBy(r => r.File).ThenBy(r => r.Start)
                     .Select(r => (r.File, r.Start, r.End - r.Start)))
        {
            if (merged.Count > 0 && merged[^1].File == file && offset <= merged[^1].Offset + merged[^1].Length)
            {
                var last = merged[^1];
                merged[^1] = (file, last.Offset, Math.Max(last.Length, offset + length - last.Offset));
            }
            else merged.Add((file, offset, length));
        }
        return merged;
    }

    public void Dispose() => _memory.Dispose();
}

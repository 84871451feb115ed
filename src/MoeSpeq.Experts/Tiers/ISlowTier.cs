namespace MoeSpeq.Experts.Tiers;

/// <summary>
/// Where routed experts live when they are not in the fast-tier cache: the model's files on disk, or host RAM behind
/// an emulated link. A tier reads byte ranges of the model's files (one GGUF file, or a directory's safetensors
/// shards, in the order of <see cref="ExpertCatalog.Files"/>); the cache decides which and where to.
/// </summary>
public unsafe interface ISlowTier : IDisposable
{
    /// <summary>The name it is chosen by (<c>--slow-tier</c>).</summary>
    string Name { get; }

    /// <summary>What the tier actually does, for stats lines: e.g. "disk, O_DIRECT, 4 I/O threads".</summary>
    string Description { get; }

    /// <summary>Offsets, lengths and destination addresses of <see cref="Read"/> must be multiples of this.</summary>
    int Alignment { get; }

    /// <summary>
    /// Reads <paramref name="length"/> bytes at offset <paramref name="offset"/> of the model's file number
    /// <paramref name="file"/> into <paramref name="destination"/>. Thread-safe: several I/O threads call it at once.
    /// Throws <see cref="IOException"/> on a failed or short read and <see cref="OperationCanceledException"/> when
    /// cancelled.
    /// </summary>
    void Read(int file, long offset, long length, byte* destination, CancellationToken cancel);
}

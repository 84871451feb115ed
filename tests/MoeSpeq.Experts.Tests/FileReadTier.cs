using Microsoft.Win32.SafeHandles;
using MoeSpeq.Experts.Tiers;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// A plain buffered-read tier for runtime tests, with an alignment to exercise widened reads, a switch that makes
/// reads fail, as a disk error or a file truncated while running would, a gate that holds reads, as a device
/// that stops answering would, and a delay per read, as a slow device has.
/// </summary>
/// <param name="paths">The model's files (<see cref="ExpertCatalog.Files"/>).</param>
internal sealed unsafe class FileReadTier(IReadOnlyList<string> paths, int alignment = 1) : ISlowTier
{
    readonly SafeFileHandle[] _files = [.. paths.Select(p => File.OpenHandle(p))];
    readonly ManualResetEventSlim _gate = new(true);
    int _reads;

    /// <summary>Reads after this many succeed fail with an IOException (−1: never).</summary>
    public int FailAfter { get; set; } = -1;
    public int Reads => Volatile.Read(ref _reads);
    /// <summary>Time every read takes at least.</summary>
    public TimeSpan ReadDelay { get; set; }

    /// <summary>Set while a read waits at the closed gate.</summary>
    public ManualResetEventSlim Held { get; } = new(false);

    /// <summary>From now on reads wait until <see cref="Open"/> or until they are cancelled.</summary>
    public void Hold() => _gate.Reset();

    public void Open()
    {
        _gate.Set();
        Held.Reset();
    }

    public string Name => "test";
    public FileReadTier(string path, int alignment = 1) : this([path], alignment) { }

    public string Description => $"test tier over {string.Join(", ", paths.Select(Path.GetFileName))}";
    public int Alignment => alignment;

    public void Read(int file, long offset, long length, byte* destination, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        if (offset % alignment != 0 || length % alignment != 0 || (nint)destination % alignment != 0)
            throw new ArgumentException($"unaligned read {offset}+{length} for alignment {alignment}");
        if (!_gate.IsSet)
        {
            Held.Set();
            _gate.Wait(cancel);
        }
        if (ReadDelay > TimeSpan.Zero) cancel.WaitHandle.WaitOne(ReadDelay);
        int n = Interlocked.Increment(ref _reads);
        if (FailAfter >= 0 && n > FailAfter) throw new IOException($"injected read failure at offset {offset}");
        var handle = _files[file];
        long fileLength = RandomAccess.GetLength(handle);
        for (long done = 0; done < length;)
        {
            int chunk = (int)Math.Min(length - done, 1 << 30);
            int read = RandomAccess.Read(handle, new Span<byte>(destination + done, chunk), offset + done);
            if (read == 0)
            {
                // Alignment may widen the last read past the end of the file; the bytes there are padding.
                if (offset + done >= fileLength) { new Span<byte>(destination + done, (int)(length - done)).Clear(); return; }
                throw new IOException($"{paths[file]} ended at {offset + done}");
            }
            done += read;
        }
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _gate.Dispose();
        Held.Dispose();
    }
}

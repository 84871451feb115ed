using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Experts;

/// <summary>
/// Where each routed expert's bytes are in the model's files and how they land in a cache slot: the file ranges to
/// read (widened to the tier's alignment and merged where they touch or only padding parts them, so a repacked file
/// or a checkpoint with a tensor per expert takes one read per expert and a stacked one three) and, per matrix, its
/// offset inside the slot. A model directory's experts lie in several shard files: each read names its file.
/// </summary>
public sealed class ExpertCatalog
{
    /// <summary>
    /// One read: <see cref="Length"/> bytes at offset <see cref="FileOffset"/> of file <see cref="File"/> (an index into
    /// <see cref="Files"/>) into the slot at <see cref="SlotOffset"/>.
    /// </summary>
    public readonly record struct Read(int File, long FileOffset, long Length, long SlotOffset);

    sealed record Entry(Read[] Reads, long GateAt, long UpAt, long DownAt, ExpertWeights Shape, long PayloadBytes);

    readonly Entry?[][] _entries;

    public ExpertCatalog(ExpertLayout layout, int alignment)
    {
        if (alignment < 1 || (alignment & (alignment - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "must be a power of two");
        Alignment = alignment;
        Layers = layout.Layers.Length;
        Files = layout.File.FilePaths;
        ExpertsPerLayer = layout.Config.ExpertCount;
        _entries = new Entry?[Layers][];
        for (int l = 0; l < Layers; l++)
        {
            _entries[l] = new Entry?[layout.Layers[l].Length];
            for (int e = 0; e < layout.Layers[l].Length; e++)
            {
                var entry = Plan(layout.Weights, layout.Layers[l][e], alignment);
                _entries[l][e] = entry;
                SlotBytes = Math.Max(SlotBytes, entry.Reads.Sum(r => r.Length));
                ExpertBytes = Math.Max(ExpertBytes, entry.PayloadBytes);
                TotalExpertBytes += entry.PayloadBytes;
                ExpertCount++;
            }
        }
        // Slots start on the alignment so reads can land in them directly.
        SlotBytes = (SlotBytes + alignment - 1) / alignment * alignment;
    }

    public int Alignment { get; }
    /// <summary>The model's files that <see cref="Read.File"/> indexes: the GGUF file, or a directory's shards.</summary>
    public IReadOnlyList<string> Files { get; }
    public int Layers { get; }
    public int ExpertsPerLayer { get; }
    /// <summary>Routed experts in the model (MoE layers × experts).</summary>
    public int ExpertCount { get; }
    /// <summary>Bytes one cache slot needs: the largest expert's aligned reads.</summary>
    public long SlotBytes { get; }
    /// <summary>The largest expert's matrix bytes.</summary>
    public long ExpertBytes { get; }
    /// <summary>Matrix bytes of every routed expert.</summary>
    public long TotalExpertBytes { get; }

    public bool IsMoeLayer(int layer) => _entries[layer].Length > 0;

    /// <summary>The reads that fill a slot with <paramref name="key"/>'s matrices.</summary>
    public ReadOnlySpan<Read> ReadsOf(ExpertKey key) => Get(key).Reads;

    /// <summary>Matrix bytes of <paramref name="key"/> (without alignment padding).</summary>
    public long PayloadBytes(ExpertKey key) => Get(key).PayloadBytes;

    /// <summary>Every file range that holds experts, for a tier that keeps them in RAM.</summary>
    public IEnumerable<(int File, long Offset, long Length)> FileRanges() =>
        _entries.SelectMany(l => l).SelectMany(e => e!.Reads).Select(r => (r.File, r.FileOffset, r.Length));

    /// <summary><paramref name="key"/>'s matrices over a slot whose first byte is <paramref name="slot"/>, with its resident biases.</summary>
    public unsafe ExpertWeights Weights(ExpertKey key, byte* slot)
    {
        var e = Get(key);
        // Only the matrices live in the slot; the biases, if any, stay the layout's resident arrays.
        return e.Shape with
        {
            Gate = new WeightMatrix(e.Shape.Gate.Type, e.Shape.Gate.Rows, e.Shape.Gate.Cols, slot + e.GateAt),
            Up = new WeightMatrix(e.Shape.Up.Type, e.Shape.Up.Rows, e.Shape.Up.Cols, slot + e.UpAt),
            Down = new WeightMatrix(e.Shape.Down.Type, e.Shape.Down.Rows, e.Shape.Down.Cols, slot + e.DownAt),
        };
    }

    Entry Get(ExpertKey key)
    {
        if ((uint)key.Layer >= (uint)Layers || (uint)key.Expert >= (uint)_entries[key.Layer].Length)
            throw new ArgumentOutOfRangeException(nameof(key), key, "no such routed expert");
        return _entries[key.Layer][key.Expert]!;
    }

    static Entry Plan(ModelWeights weights, ExpertWeights w, int alignment)
    {
        // Matrices in file order; each widened to the alignment; ranges of one file that touch, overlap or are apart
        // only by the file's padding between tensors become one read (reading a few padding bytes costs less than
        // another read).
        long padding = weights.File.Header.Alignment;
        var matrices = new[] { w.Gate, w.Up, w.Down }
            .Select((m, i) => (Index: i, Location: weights.LocationOf(m), Bytes: m.ByteLength))
            .OrderBy(m => m.Location.File).ThenBy(m => m.Location.Offset).ToArray();
        var reads = new List<Read>();
        var at = new long[3];
        long slot = 0;
        foreach (var (index, (file, offset), bytes) in matrices)
        {
            long start = offset / alignment * alignment;
            long end = (offset + bytes + alignment - 1) / alignment * alignment;
            if (reads.Count > 0 && reads[^1].File == file && start < reads[^1].FileOffset + reads[^1].Length + padding)
            {
                var last = reads[^1];
                long newEnd = Math.Max(end, last.FileOffset + last.Length);
                slot += newEnd - (last.FileOffset + last.Length);
                reads[^1] = last with { Length = newEnd - last.FileOffset };
                at[index] = last.SlotOffset + (offset - last.FileOffset);
            }
            else
            {
                reads.Add(new Read(file, start, end - start, slot));
                at[index] = slot + (offset - start);
                slot += end - start;
            }
        }
        return new Entry([.. reads], at[0], at[1], at[2], w, w.Gate.ByteLength + w.Up.ByteLength + w.Down.ByteLength);
    }
}

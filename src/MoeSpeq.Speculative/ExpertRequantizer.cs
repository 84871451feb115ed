using MoeSpeq.Experts;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Speculative;

/// <summary>
/// Converts a target's routed experts into matrices of another type, row by row (dequantize the target's row,
/// quantize it to the destination's type), in parallel. The target's expert bytes come from memory when they are
/// loaded, else from the model file: read once per expert with O_DIRECT (so the page cache does not keep them)
/// through the same tier and catalog an offloaded runtime uses. Building draft experts at load and writing them to a
/// file both convert through here, so the two give the same bytes.
/// </summary>
internal sealed unsafe class ExpertRequantizer : IDisposable
{
    readonly ExpertLayout _layout;
    readonly ISlowTier? _tier;
    readonly ExpertCatalog? _catalog;

    ExpertRequantizer(ExpertLayout layout, ISlowTier? tier, ExpertCatalog? catalog) => (_layout, _tier, _catalog) = (layout, tier, catalog);

    public static ExpertRequantizer Open(ExpertLayout layout)
    {
        if (layout.Weights.LoadExperts) return new ExpertRequantizer(layout, null, null);
        var tier = new DiskTier(layout.File.FilePaths);
        try
        {
            return new ExpertRequantizer(layout, tier, new ExpertCatalog(layout, tier.Alignment));
        }
        catch
        {
            tier.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Converts the experts <paramref name="keys"/> into <paramref name="destination"/>[layer][expert], whose matrices
    /// have the source's shapes and the types to write; <paramref name="expertDone"/> is called after each expert,
    /// from the converting thread.
    /// </summary>
    public void Convert(IReadOnlyList<ExpertKey> keys, ExpertWeights[][] destination, int threads, Action? expertDone = null)
    {
        Parallel.For(0, keys.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) },
            () => new Reader(this), (i, _, reader) =>
            {
                var key = keys[i];
                var src = reader.Read(key);
                var dst = destination[key.Layer][key.Expert];
                Convert(src.Gate, dst.Gate);
                Convert(src.Up, dst.Up);
                Convert(src.Down, dst.Down);
                expertDone?.Invoke();
                return reader;
            }, reader => reader.Dispose());
    }

    static void Convert(in WeightMatrix src, in WeightMatrix dst)
    {
        if (src.Rows != dst.Rows || src.Cols != dst.Cols)
            throw new ArgumentException($"a {src.Rows}×{src.Cols} matrix cannot be converted into one of {dst.Rows}×{dst.Cols}");
        var row = new float[src.Cols];
        int dstRowBytes = dst.RowBytes;
        for (int r = 0; r < src.Rows; r++)
        {
            Dequantize.Row(src.Type, src.Row(r), row);
            Quantize.Row(dst.Type, row, new Span<byte>(dst.Data + (long)r * dstRowBytes, dstRowBytes));
        }
    }

    public void Dispose() => _tier?.Dispose();

    /// <summary>One thread's view of the source: the loaded matrices, or a scratch slot the tier reads an expert into.</summary>
    sealed class Reader(ExpertRequantizer source) : IDisposable
    {
        readonly WeightArena? _scratch = source._catalog is { } c ? new WeightArena(c.SlotBytes + 4096) : null;

        public ExpertWeights Read(ExpertKey key)
        {
            if (source._tier is not { } tier || source._catalog is not { } catalog || _scratch is null)
                return source._layout.Layers[key.Layer][key.Expert];
            // Direct reads land on an aligned address: the arena's base is 2 MiB-aligned.
            byte* slot = _scratch.Base;
            foreach (var read in catalog.ReadsOf(key)) tier.Read(read.File, read.FileOffset, read.Length, slot + read.SlotOffset, CancellationToken.None);
            return catalog.Weights(key, slot);
        }

        public void Dispose() => _scratch?.Dispose();
    }
}

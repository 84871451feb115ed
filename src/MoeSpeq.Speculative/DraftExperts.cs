using MoeSpeq.Experts;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Speculative;

/// <summary>
/// Resident low-bit copies of every routed expert, the experts of the self-draft: the target's own expert matrices
/// requantized to a small type (Q4_0, Q4_K, Q2_K) at load, all held in one block of anonymous memory. Routers,
/// attention, norms and embeddings are not copied: the self-draft uses the target's. When the target's experts live
/// in a slow tier they are read once from the model file for the conversion (O_DIRECT, so the page cache does not
/// keep them) and never again.
/// </summary>
public sealed unsafe class DraftExperts : IDisposable
{
    /// <summary>The types <c>--draft-experts</c> names.</summary>
    public static readonly IReadOnlyDictionary<string, GgmlType> Types = new Dictionary<string, GgmlType>
    {
        ["q4_0"] = GgmlType.Q4_0,
        ["q4_k"] = GgmlType.Q4_K,
        ["q2_k"] = GgmlType.Q2_K,
        ["q8_0"] = GgmlType.Q8_0,
    };

    readonly WeightArena _memory;

    DraftExperts(WeightArena memory, ExpertWeights[][] layers, GgmlType requested, IReadOnlySet<GgmlType> used)
    {
        _memory = memory;
        Layers = layers;
        RequestedType = requested;
        UsedTypes = used;
    }

    /// <summary>[layer][expert] low-bit weights; an empty array for a dense layer.</summary>
    public ExpertWeights[][] Layers { get; }
    public GgmlType RequestedType { get; }
    /// <summary>Types actually written: a matrix whose rows are not whole blocks of the requested type falls back to Q4_0, then F16.</summary>
    public IReadOnlySet<GgmlType> UsedTypes { get; }
    public long ResidentBytes => _memory.Used;

    public string Description =>
        $"self-draft: {RequestedType} experts{(UsedTypes.SetEquals([RequestedType]) ? "" : $" ({string.Join(", ", UsedTypes.Order())} where rows are not whole {RequestedType} blocks)")}, " +
        $"{ResidentBytes / 1e6:F1} MB resident";

    /// <summary>The type a matrix of <paramref name="cols"/> columns is stored in when <paramref name="requested"/> is asked for.</summary>
    public static GgmlType TypeFor(GgmlType requested, int cols)
    {
        foreach (var t in new[] { requested, GgmlType.Q4_0, GgmlType.F16 })
            if (cols % GgmlTypeInfo.BlockSize(t) == 0) return t;
        return GgmlType.F32;
    }

    /// <summary>
    /// Converts every routed expert of <paramref name="layout"/> to <paramref name="type"/>, on
    /// <paramref name="threads"/> threads; <paramref name="progress"/> receives (experts done, total).
    /// </summary>
    public static DraftExperts Build(ExpertLayout layout, GgmlType type, int threads, Action<int, int>? progress = null)
    {
        if (!Quantize.Supports(type) || !VecDot.Supports(type)) throw new ArgumentException($"{type} cannot hold draft experts");
        var keys = new List<ExpertKey>();
        long bytes = 0;
        var used = new HashSet<GgmlType>();
        for (int l = 0; l < layout.Layers.Length; l++)
            for (int e = 0; e < layout.Layers[l].Length; e++)
            {
                keys.Add(new ExpertKey(l, e));
                foreach (var m in Matrices(layout.Layers[l][e]))
                {
                    var t = TypeFor(type, m.Cols);
                    used.Add(t);
                    bytes += WeightArena.PieceSize((long)GgmlTypeInfo.RowBytes(t, m.Cols) * m.Rows);
                }
            }
        var memory = new WeightArena(bytes);
        try
        {
            var layers = layout.Layers.Select(l => new ExpertWeights[l.Length]).ToArray();
            // Places are handed out in key order before the parallel conversion, so the layout does not depend on timing.
            foreach (var key in keys)
            {
                var src = layout.Layers[key.Layer][key.Expert];
                layers[key.Layer][key.Expert] = new ExpertWeights(Place(memory, src.Gate, type), Place(memory, src.Up, type), Place(memory, src.Down, type));
            }
            using var source = ExpertSource.Open(layout);
            int done = 0;
            Parallel.For(0, keys.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) },
                () => source.NewReader(), (i, _, reader) =>
                {
                    var key = keys[i];
                    var src = reader.Read(key);
                    var dst = layers[key.Layer][key.Expert];
                    Convert(src.Gate, dst.Gate);
                    Convert(src.Up, dst.Up);
                    Convert(src.Down, dst.Down);
                    progress?.Invoke(Interlocked.Increment(ref done), keys.Count);
                    return reader;
                }, reader => reader.Dispose());
            return new DraftExperts(memory, layers, type, used);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    static WeightMatrix[] Matrices(in ExpertWeights w) => [w.Gate, w.Up, w.Down];

    static WeightMatrix Place(WeightArena memory, in WeightMatrix src, GgmlType requested)
    {
        var t = TypeFor(requested, src.Cols);
        return new WeightMatrix(t, src.Rows, src.Cols, memory.Allocate((long)GgmlTypeInfo.RowBytes(t, src.Cols) * src.Rows));
    }

    /// <summary>Row by row: dequantize the target's row, quantize it to the draft's type.</summary>
    static void Convert(in WeightMatrix src, in WeightMatrix dst)
    {
        var row = new float[src.Cols];
        int dstRowBytes = dst.RowBytes;
        for (int r = 0; r < src.Rows; r++)
        {
            Dequantize.Row(src.Type, src.Row(r), row);
            Quantize.Row(dst.Type, row, new Span<byte>(dst.Data + (long)r * dstRowBytes, dstRowBytes));
        }
    }

    public void Dispose() => _memory.Dispose();

    /// <summary>Where the target's expert bytes come from for the conversion: memory when loaded, else the model file.</summary>
    sealed class ExpertSource : IDisposable
    {
        readonly ExpertLayout _layout;
        readonly ISlowTier? _tier;
        readonly ExpertCatalog? _catalog;

        ExpertSource(ExpertLayout layout, ISlowTier? tier, ExpertCatalog? catalog) => (_layout, _tier, _catalog) = (layout, tier, catalog);

        public static ExpertSource Open(ExpertLayout layout)
        {
            if (layout.Weights.LoadExperts) return new ExpertSource(layout, null, null);
            var tier = new DiskTier(layout.File.Path);
            return new ExpertSource(layout, tier, new ExpertCatalog(layout, tier.Alignment));
        }

        public Reader NewReader() => new(this);

        public void Dispose() => _tier?.Dispose();

        public sealed class Reader(ExpertSource source) : IDisposable
        {
            readonly WeightArena? _scratch = source._catalog is { } c ? new WeightArena(c.SlotBytes + 4096) : null;

            public ExpertWeights Read(ExpertKey key)
            {
                if (source._tier is not { } tier || source._catalog is not { } catalog || _scratch is null)
                    return source._layout.Layers[key.Layer][key.Expert];
                // Direct reads land on an aligned address: the arena's base is 2 MiB-aligned.
                byte* slot = _scratch.Base;
                foreach (var read in catalog.ReadsOf(key)) tier.Read(read.FileOffset, read.Length, slot + read.SlotOffset, CancellationToken.None);
                return catalog.Weights(key, slot);
            }

            public void Dispose() => _scratch?.Dispose();
        }
    }
}

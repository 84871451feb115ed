using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Speculative;

/// <summary>
/// Resident low-bit copies of every routed expert, the experts of the self-draft: the target's own expert matrices
/// requantized to a small type (Q4_0, Q4_K, Q2_K) at load (<see cref="Build"/>) or read from a file that
/// <c>moespeq make-draft</c> wrote ahead of time (<see cref="Load"/>), all held in one block of anonymous memory.
/// Routers, attention, norms and embeddings are not copied: the self-draft uses the target's. When the target's
/// experts live in a slow tier they are read once from the model file for the conversion (O_DIRECT, so the page
/// cache does not keep them) and never again.
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

    internal DraftExperts(WeightArena memory, ExpertWeights[][] layers, GgmlType requested, IReadOnlySet<GgmlType> used, string origin)
    {
        _memory = memory;
        Layers = layers;
        RequestedType = requested;
        UsedTypes = used;
        Origin = origin;
    }

    /// <summary>[layer][expert] low-bit weights; an empty array for a dense layer.</summary>
    public ExpertWeights[][] Layers { get; }
    public GgmlType RequestedType { get; }
    /// <summary>Types actually written: a matrix whose rows are not whole blocks of the requested type falls back to Q4_0, then F16.</summary>
    public IReadOnlySet<GgmlType> UsedTypes { get; }
    public long ResidentBytes => _memory.Used;
    /// <summary>Where the experts came from: "built at load", or "read from FILE".</summary>
    public string Origin { get; }

    public string Description =>
        $"self-draft: {RequestedType} experts{(UsedTypes.SetEquals([RequestedType]) ? "" : $" ({string.Join(", ", UsedTypes.Order())} where rows are not whole {RequestedType} blocks)")} " +
        $"{Origin}, {ResidentBytes / 1e6:F1} MB resident";

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
        CheckRequestable(type);
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
                // Only the matrices are requantized: the biases (gpt-oss) are the target's own resident arrays.
                layers[key.Layer][key.Expert] = src with { Gate = Place(memory, src.Gate, type), Up = Place(memory, src.Up, type), Down = Place(memory, src.Down, type) };
            }
            using var requantizer = ExpertRequantizer.Open(layout);
            int done = 0;
            requantizer.Convert(keys, layers, threads, () => progress?.Invoke(Interlocked.Increment(ref done), keys.Count));
            return new DraftExperts(memory, layers, type, used, "built at load");
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the draft experts that <c>moespeq make-draft</c> wrote to <paramref name="path"/> for the target of
    /// <paramref name="layout"/> into resident memory, after checking that the file was made from this very target
    /// (<see cref="DraftExpertsFile"/>); a file that was not throws <see cref="DraftExpertsFileException"/>.
    /// </summary>
    public static DraftExperts Load(string path, ExpertLayout layout) => DraftExpertsFile.Read(path, layout);

    /// <summary>Throws unless <paramref name="type"/> can be asked for: one the quantizer writes and the kernels multiply.</summary>
    internal static void CheckRequestable(GgmlType type)
    {
        if (!Quantize.Supports(type) || !VecDot.Supports(type)) throw new ArgumentException($"{type} cannot hold draft experts");
    }

    static WeightMatrix[] Matrices(in ExpertWeights w) => [w.Gate, w.Up, w.Down];

    static WeightMatrix Place(WeightArena memory, in WeightMatrix src, GgmlType requested)
    {
        var t = TypeFor(requested, src.Cols);
        return new WeightMatrix(t, src.Rows, src.Cols, memory.Allocate((long)GgmlTypeInfo.RowBytes(t, src.Cols) * src.Rows));
    }

    public void Dispose() => _memory.Dispose();
}

using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model;

/// <summary>Where the matrices a forward pass multiplies are read from.</summary>
public enum WeightPlacement
{
    /// <summary>Read once from the file into anonymous, huge-page memory (see <see cref="WeightArena"/>): steady bandwidth.</summary>
    Load,
    /// <summary>Views over the memory-mapped file: instant start, but the OS may reclaim the pages between tokens.</summary>
    Map,
}

/// <summary>
/// Typed, shape-checked access to the tensors of an open GGUF file. Matrices live where the
/// <see cref="WeightPlacement"/> says: copied into a <see cref="WeightArena"/> on first use, or viewed in the mapping.
/// Small vectors (norm weights) are always copied out as F32, because every kernel reads them per token; when
/// matrices are loaded, vectors are read the same way, so the mapping is touched only where the header is.
/// </summary>
public sealed unsafe class ModelWeights : IDisposable
{
    readonly Dictionary<string, nint> _loaded = new(StringComparer.Ordinal);
    readonly WeightArena? _arena;
    GgufTensorReader? _reader;

    public ModelWeights(GgufFile file, WeightPlacement placement = WeightPlacement.Load, bool loadExperts = true)
    {
        File = file;
        Placement = placement;
        LoadExperts = loadExperts;
        if (placement == WeightPlacement.Load)
            _arena = new WeightArena(file.Header.Tensors.Sum(t => WeightArena.PieceSize(t.ByteSize)));
    }

    public GgufFile File { get; }
    public WeightPlacement Placement { get; }

    /// <summary>Whether routed expert tensors are loaded too; when not, they stay views of the mapping, never read.</summary>
    public bool LoadExperts { get; }

    /// <summary>
    /// Which of the model's files (<see cref="GgufFile.Files"/>) holds a matrix that views the mapping (an expert left
    /// to a slow tier), and at what offset in it.
    /// </summary>
    public (int File, long Offset) LocationOf(in WeightMatrix m)
    {
        if (!File.TryLocate(m.Data, m.ByteLength, out int file, out long offset))
            throw new ArgumentException("the matrix is not a view of this model's files", nameof(m));
        return (file, offset);
    }

    /// <summary>
    /// The memory matrices are read from: the arena's filled part when loaded, else the whole mapping. This is
    /// what a bandwidth probe should read to state the limit a decode step meets.
    /// </summary>
    public (nint Start, long Length) MatrixMemory
    {
        get
        {
            if (_arena is { } a) return ((nint)a.Base, a.Used);
            // Of a sharded model, the largest shard: one mapping is one contiguous range to probe.
            var largest = File.Files.MaxBy(f => f.Length)!;
            return ((nint)largest.BasePointer, largest.Length);
        }
    }

    /// <summary>Bytes copied into anonymous memory so far.</summary>
    public long LoadedBytes => _arena?.Used ?? 0;

    /// <summary>Weight types the matrix kernels can multiply.</summary>
    public static readonly IReadOnlySet<GgmlType> MatrixTypes = new HashSet<GgmlType>
    {
        GgmlType.F32, GgmlType.F16, GgmlType.BF16,
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.MXFP4,
    };

    public bool Has(TensorId id, int layer = -1) => File.Header.FindTensor(TensorNames.Gguf(id, layer)) is not null;

    public GgufTensorInfo Info(TensorId id, int layer = -1)
    {
        string name = TensorNames.Gguf(id, layer);
        return File.Header.FindTensor(name) ?? throw new ModelLoadException($"tensor {name} is missing");
    }

    /// <summary>A 2-D tensor of <paramref name="rows"/> × <paramref name="cols"/> (GGUF ne = [cols, rows]).</summary>
    public WeightMatrix Matrix(TensorId id, int layer, int cols, int rows)
    {
        var t = Info(id, layer);
        ExpectShape(t, cols, rows);
        ExpectMatrixType(t);
        return File.Matrix(t, Data(t));
    }

    /// <summary>
    /// One layer's routed experts, one <see cref="WeightMatrix"/> each: slices of the stacked tensor
    /// <paramref name="stacked"/> of ne = [cols, rows, experts], or, in a repacked file where it is absent, the
    /// per-expert tensors of ne = [cols, rows] (<see cref="TensorNames.PerExpert"/>).
    /// </summary>
    public WeightMatrix[] ExpertMatrices(TensorId stacked, int layer, int cols, int rows, int experts)
    {
        var result = new WeightMatrix[experts];
        if (File.Header.FindTensor(TensorNames.Gguf(stacked, layer)) is not { } t)
        {
            PerExpertMatrices(stacked, layer, cols, rows, result);
            return result;
        }
        Slices(t, cols, rows, result);
        return result;
    }

    /// <summary>
    /// The 2-D slices of a 3-D tensor of ne = [cols, rows, count], one <see cref="WeightMatrix"/> each: per-head
    /// matrices such as multi-head latent attention's <c>attn_k_b</c> and <c>attn_v_b</c>.
    /// </summary>
    public WeightMatrix[] MatrixSlices(TensorId id, int layer, int cols, int rows, int count)
    {
        var result = new WeightMatrix[count];
        Slices(Info(id, layer), cols, rows, result);
        return result;
    }

    void Slices(GgufTensorInfo t, int cols, int rows, WeightMatrix[] result)
    {
        ExpectShape(t, cols, rows, result.Length);
        ExpectMatrixType(t);
        byte* data = Data(t);
        for (int i = 0; i < result.Length; i++) result[i] = File.Matrix(t, i, data);
    }

    void PerExpertMatrices(TensorId stacked, int layer, int cols, int rows, WeightMatrix[] result)
    {
        var id = TensorNames.PerExpert(stacked);
        GgufTensorInfo? first = null;
        for (int e = 0; e < result.Length; e++)
        {
            string name = TensorNames.Gguf(id, layer, e);
            if (File.Header.FindTensor(name) is not { } t)
            {
                throw new ModelLoadException(e == 0
                    ? $"tensor {TensorNames.Gguf(stacked, layer)} is missing (and so is {name}, its first expert in a file with a tensor per expert)"
                    : $"tensor {name} is missing: layer {layer} has per-expert tensors for experts 0..{e - 1} but expert_count is {result.Length}");
            }
            ExpectShape(t, cols, rows);
            ExpectMatrixType(t);
            // A layer's experts share a type, as slices of a stacked tensor do; llama.cpp merges them into one.
            first ??= t;
            if (t.Type != first.Type)
                throw new ModelLoadException($"tensor {t.Describe()} has type {t.Type} but {first.Describe()} has {first.Type}: one layer's experts must share a type");
            result[e] = File.Matrix(t, Data(t));
        }
    }

    /// <summary>A 1-D tensor of <paramref name="length"/> values, converted to F32.</summary>
    public float[] Vector(TensorId id, int layer, int length) => VectorNamed(TensorNames.Gguf(id, layer), length);

    float[] VectorNamed(string name, int length, long[]? shape = null)
    {
        var t = File.Header.FindTensor(name) ?? throw new ModelLoadException($"tensor {name} is missing");
        ExpectShape(t, shape ?? [length]);
        if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ModelLoadException($"{t.Describe()} has type {t.Type}; vectors must be F32, F16 or BF16");
        var values = new float[length];
        if (_arena is null) Dequantize.Row(t.Type, File.TensorBytes(t), values);
        else
        {
            // Read, not viewed: touching the mapping maps the file's pages around the vector too (a whole large
            // folio on recent kernels), and beside a norm lie expert matrices a slow tier is meant to keep out of RSS.
            Dequantize.Row(t.Type, Reader.ReadArray(t), values);
        }
        return values;
    }

    /// <summary>The bias beside a weight tensor (<see cref="TensorNames.GgufBias"/>), converted to F32.</summary>
    public float[] Bias(TensorId id, int layer, int length) => VectorNamed(TensorNames.GgufBias(id, layer), length);

    /// <summary>The bias beside a weight tensor, or null when the file has none.</summary>
    public float[]? OptionalBias(TensorId id, int layer, int length) =>
        File.Header.FindTensor(TensorNames.GgufBias(id, layer)) is null ? null : Bias(id, layer, length);

    /// <summary>A 1-D tensor, or null when the file has none.</summary>
    public float[]? OptionalVector(TensorId id, int layer, int length) => Has(id, layer) ? Vector(id, layer, length) : null;

    /// <summary>
    /// Per-expert biases of a stacked tensor ne = [length, experts] (gpt-oss's <c>ffn_up_exps.bias</c>): [experts][length].
    /// </summary>
    public float[][] ExpertBiases(TensorId stacked, int layer, int length, int experts)
    {
        string name = TensorNames.GgufBias(stacked, layer);
        var all = VectorNamed(name, length * experts, [length, experts]);
        return [.. Enumerable.Range(0, experts).Select(e => all.AsSpan(e * length, length).ToArray())];
    }

    /// <summary>The tensor's bytes where matrices read them: loaded into the arena on first use, or mapped.</summary>
    byte* Data(GgufTensorInfo t)
    {
        if (_arena is null || (!LoadExperts && TensorNames.IsRoutedExpert(t.Name))) return File.TensorPointer(t);
        if (_loaded.TryGetValue(t.Name, out nint ready)) return (byte*)ready;
        byte* piece = _arena.Allocate(t.ByteSize);
        Reader.Read(t, piece);
        _loaded[t.Name] = (nint)piece;
        return piece;
    }

    /// <summary>Reads tensors with read calls, making rearranged ones (see <see cref="GgufTensorReader"/>).</summary>
    GgufTensorReader Reader => _reader ??= new GgufTensorReader(File);

    /// <summary>Closes the read handles once every matrix is in place; the arena stays until disposal.</summary>
    public void FinishLoading()
    {
        _reader?.Dispose();
        _reader = null;
    }

    public void Dispose()
    {
        FinishLoading();
        _arena?.Dispose();
    }

    static void ExpectShape(GgufTensorInfo t, params long[] expected)
    {
        bool ok = t.Dimensions.Length <= expected.Length || t.Dimensions.Skip(expected.Length).All(d => d == 1);
        for (int i = 0; ok && i < expected.Length; i++) ok = t.Dim(i) == expected[i];
        if (!ok) throw new ModelLoadException($"tensor {t.Describe()} has shape {t.ShapeText}, expected [{string.Join(", ", expected)}]");
    }

    static void ExpectMatrixType(GgufTensorInfo t)
    {
        if (!MatrixTypes.Contains(t.Type)) throw new ModelLoadException($"tensor {t.Describe()} has type {t.Type}, which has no matrix kernel");
    }
}

using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model;

/// <summary>
/// Typed, shape-checked access to the tensors of an open GGUF file. Matrices are views over the mapped file;
/// only small vectors (norm weights) are copied out as F32, because every kernel reads them per token.
/// </summary>
public sealed class ModelWeights(GgufFile file)
{
    /// <summary>Weight types the matrix kernels can multiply.</summary>
    public static readonly IReadOnlySet<GgmlType> MatrixTypes = new HashSet<GgmlType>
    {
        GgmlType.F32, GgmlType.F16, GgmlType.BF16,
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    };

    public GgufFile File { get; } = file;

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
        return File.Matrix(t);
    }

    /// <summary>A stacked expert tensor of ne = [cols, rows, experts]; one <see cref="WeightMatrix"/> per expert.</summary>
    public WeightMatrix[] ExpertMatrices(TensorId id, int layer, int cols, int rows, int experts)
    {
        var t = Info(id, layer);
        ExpectShape(t, cols, rows, experts);
        ExpectMatrixType(t);
        var result = new WeightMatrix[experts];
        for (int e = 0; e < experts; e++) result[e] = File.Matrix(t, e);
        return result;
    }

    /// <summary>A 1-D tensor of <paramref name="length"/> values, converted to F32.</summary>
    public float[] Vector(TensorId id, int layer, int length)
    {
        var t = Info(id, layer);
        ExpectShape(t, length);
        if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ModelLoadException($"{t.Name} has type {t.Type}; vectors must be F32, F16 or BF16");
        var values = new float[length];
        Dequantize.Row(t.Type, File.TensorBytes(t), values);
        return values;
    }

    static void ExpectShape(GgufTensorInfo t, params long[] expected)
    {
        bool ok = t.Dimensions.Length <= expected.Length || t.Dimensions.Skip(expected.Length).All(d => d == 1);
        for (int i = 0; ok && i < expected.Length; i++) ok = t.Dim(i) == expected[i];
        if (!ok) throw new ModelLoadException($"tensor {t.Name} has shape {t.ShapeText}, expected [{string.Join(", ", expected)}]");
    }

    static void ExpectMatrixType(GgufTensorInfo t)
    {
        if (!MatrixTypes.Contains(t.Type)) throw new ModelLoadException($"tensor {t.Name} has type {t.Type}, which has no matrix kernel");
    }
}

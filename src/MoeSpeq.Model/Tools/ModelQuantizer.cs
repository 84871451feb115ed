using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Tools;

/// <summary>
/// Rewrites a GGUF model with its weight matrices in another type, keeping metadata and tensor order. The policy
/// follows llama-quantize's defaults without an importance matrix: 1-D tensors and routers stay F32 (routing is
/// precision-sensitive and tiny), the output matrix of K-quant and 4/5-bit files takes Q6_K, and a tensor whose
/// rows cannot hold whole blocks of the target falls back to a type whose blocks fit.
/// A repacked file (<see cref="ModelRepacker"/>) stays repacked rather than being restacked: its metadata, the 4096
/// alignment included, and its tensor order are kept, so each expert is still one aligned read; the type chosen
/// for a matrix depends only on its name and shape, so one layer's experts keep sharing a type, as loading requires.
/// </summary>
public static class ModelQuantizer
{
    public static readonly IReadOnlySet<GgmlType> TargetTypes = new HashSet<GgmlType>
    {
        GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    };

    /// <summary>One tensor's decision, for the command's report.</summary>
    public sealed record Decision(string Name, GgmlType From, GgmlType To, string? Reason);

    public static IReadOnlyList<Decision> Quantize(string inputPath, string outputPath, GgmlType target, Action<int, int>? progress = null)
    {
        if (!TargetTypes.Contains(target)) throw new ArgumentException($"cannot quantize to {target}; choose one of {string.Join(", ", TargetTypes)}");
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath)) throw new ArgumentException("the output file must differ from the input file");
        using var input = GgufFile.Open(inputPath);
        var h = input.Header;
        var writer = new GgufWriter();
        foreach (var key in h.MetadataKeys) writer.Set(key, h.Metadata[key]);
        writer.Set("general.file_type", (uint)FileType(target));
        writer.Set("general.quantization_version", 2u);

        var decisions = new List<Decision>();
        int done = 0;
        foreach (var t in h.Tensors)
        {
            var (to, reason) = Choose(t, target);
            decisions.Add(new Decision(t.Name, t.Type, to, reason));
            var tensor = t;
            writer.AddTensor(t.Name, to, t.Dimensions, s =>
            {
                Convert(input, tensor, to, s);
                progress?.Invoke(++done, h.Tensors.Count);
            });
        }
        writer.WriteTo(outputPath);
        return decisions;
    }

    static (GgmlType Type, string? Reason) Choose(GgufTensorInfo t, GgmlType target)
    {
        bool matrix = t.Dimensions.Length >= 2 && t.Dim(1) > 1;
        if (!matrix) return (t.Type, "1-D tensors keep their type");
        if (t.Name.Contains("ffn_gate_inp", StringComparison.Ordinal)) return (t.Type, "routers keep their type");
        var wanted = target;
        if (t.Name == "output.weight" && target is not (GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q6_K))
            wanted = GgmlType.Q6_K;
        var type = wanted;
        while (t.Dim(0) % GgmlTypeInfo.BlockSize(type) != 0) type = Fallback(type);
        return (type, type == wanted ? (wanted == target ? null : "output matrix") : $"ne0 = {t.Dim(0)} does not hold whole {wanted} blocks");
    }

    static GgmlType Fallback(GgmlType type) => type switch
    {
        GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
        GgmlType.Q4_K => GgmlType.Q5_0,
        GgmlType.Q5_K => GgmlType.Q5_1,
        GgmlType.Q6_K => GgmlType.Q8_0,
        _ => GgmlType.F16,
    };

    static void Convert(GgufFile input, GgufTensorInfo t, GgmlType to, Stream output)
    {
        int cols = checked((int)t.Dim(0));
        long rows = t.ElementCount / Math.Max(cols, 1);
        int inRowBytes = GgmlTypeInfo.RowBytes(t.Type, cols);
        var values = new float[cols];
        var converted = new byte[GgmlTypeInfo.RowBytes(to, cols)];
        for (long r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> src;
            unsafe { src = new ReadOnlySpan<byte>(input.TensorPointer(t) + r * inRowBytes, inRowBytes); }
            if (to == t.Type)
            {
                output.Write(src);
                continue;
            }
            Dequantize.Row(t.Type, src, values);
            Tensors.Quantize.Row(to, values, converted);
            output.Write(converted);
        }
    }

    /// <summary>llama.cpp's <c>general.file_type</c> (llama_ftype) for a file that is "mostly" <paramref name="t"/>.</summary>
    public static int FileType(GgmlType t) => t switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q4_1 => 3,
        GgmlType.Q8_0 => 7,
        GgmlType.Q5_0 => 8,
        GgmlType.Q5_1 => 9,
        GgmlType.Q2_K => 10,
        GgmlType.Q3_K => 12,
        GgmlType.Q4_K => 15,
        GgmlType.Q5_K => 17,
        GgmlType.Q6_K => 18,
        GgmlType.BF16 => 32,
        _ => throw new ArgumentException($"no file type for {t}"),
    };
}

using MoeSpeq.Tensors;

namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// The dtypes of the safetensors format with their element sizes, and the ones this engine computes with. Every
/// whole-byte dtype is known so that any file's layout can be validated; sub-byte dtypes (F4, F6) are not.
/// </summary>
public static class SafetensorsDtypes
{
    static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1, ["F8_E8M0"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8, ["C64"] = 8,
    };

    static readonly Dictionary<string, GgmlType> Computable = new(StringComparer.Ordinal)
    {
        ["F32"] = GgmlType.F32, ["F16"] = GgmlType.F16, ["BF16"] = GgmlType.BF16,
    };

    /// <summary>Bytes per element of <paramref name="dtype"/>, or null for a dtype the format reader does not know.</summary>
    public static int? ElementSize(string dtype) => Sizes.TryGetValue(dtype, out int size) ? size : null;

    /// <summary>The ggml type of a dtype the kernels compute with (F32, F16, BF16), or null.</summary>
    public static GgmlType? ToGgml(string dtype) => Computable.TryGetValue(dtype, out var type) ? type : null;

    /// <summary>The dtype name of an unblocked ggml type (the inverse of <see cref="ToGgml"/>).</summary>
    public static string FromGgml(GgmlType type) => Computable.FirstOrDefault(kv => kv.Value == type).Key
        ?? throw new ArgumentException($"{type} has no safetensors dtype (only F32, F16 and BF16 do)", nameof(type));

    public static IEnumerable<string> ComputableNames => Computable.Keys;
}

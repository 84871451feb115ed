namespace MoeSpeq.Model.HuggingFace;

/// <summary>
/// An architecture's tensor rows indexed for lookup by checkpoint name: a name's numeric segments are the layer and
/// expert, so <c>model.layers.3.mlp.experts.17.up_proj.weight</c> is found under
/// <c>model.layers.#.mlp.experts.#.up_proj.weight</c> in one dictionary probe (DeepSeek-V3 has ~47,000 tensors).
/// </summary>
internal sealed class NameTable
{
    readonly Dictionary<string, HfTensor[]> _rows;

    NameTable(Dictionary<string, HfTensor[]> rows) => _rows = rows;

    public static NameTable Of(HfArchitecture arch) => new(arch.Tensors
        .GroupBy(r => r.Hf.Replace("{L}", "#").Replace("{E}", "#"), StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal));

    /// <summary>The rows for <paramref name="name"/> with its layer and expert (−1 where the pattern has none).</summary>
    public bool TryMatch(string name, out HfTensor[] rows, out int layer, out int expert)
    {
        layer = expert = -1;
        var parts = name.Split('.');
        Span<int> numbers = stackalloc int[2];
        int found = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit)) continue;
            // Layers and experts are small; a numeric segment that is not one of them matches no row.
            if (found == 2 || parts[i].Length > 6) { rows = []; return false; }
            numbers[found++] = int.Parse(parts[i]);
            parts[i] = "#";
        }
        if (!_rows.TryGetValue(string.Join('.', parts), out rows!)) return false;
        if (rows[0].PerLayer) layer = numbers[0];
        if (rows[0].PerExpert) expert = numbers[1];
        return true;
    }

    /// <summary>The layer of a <c>model.layers.N.…</c> name, or −1.</summary>
    public static long LayerOf(string name)
    {
        var parts = name.Split('.');
        return parts is ["model", "layers", var n, ..] && n.Length is > 0 and <= 9 && n.All(char.IsAsciiDigit) ? long.Parse(n) : -1;
    }
}

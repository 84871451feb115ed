using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Model.Tools;

/// <summary>
/// Rewrites an MoE model so each routed expert is one contiguous, aligned run of bytes. GGUF stacks a layer's
/// experts in three tensors ([experts, rows, cols] gate, up and down), so one expert is three slices far apart and
/// a slow tier needs three reads for it; the repacked file stores a tensor per expert matrix under llama.cpp's
/// per-expert names (<see cref="TensorNames.Gguf(TensorId, int, int)"/>), gate, up and down of expert 0, then
/// expert 1, …, in place of the layer's stacked tensors. It is written with <c>general.alignment</c> =
/// <see cref="Alignment"/>, so every tensor, and with it every expert, starts on a 4096-byte boundary and the
/// three matrices of an expert are apart only by padding: one O_DIRECT read per expert. (llama.cpp requires
/// tensors packed with exactly the alignment's padding, so the alignment is how a compatible file gets there.)
/// Every other tensor and every other metadata value is copied byte for byte, in its place; nothing is requantised.
/// </summary>
public static class ModelRepacker
{
    public const uint Alignment = 4096;

    static readonly TensorId[] Stacked = [TensorId.FfnGateExperts, TensorId.FfnUpExperts, TensorId.FfnDownExperts];

    /// <summary>What was rewritten, for the command's report.</summary>
    public sealed record Result(int MoeLayers, int Experts, int TensorsWritten);

    public static Result Repack(string inputPath, string outputPath, Action<int, int>? progress = null)
    {
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath)) throw new ArgumentException("the output file must differ from the input file");
        using var input = GgufFile.Open(inputPath);
        var h = input.Header;
        var layers = StackedLayers(input);

        var writer = new GgufWriter();
        foreach (var key in h.MetadataKeys) writer.Set(key, h.Metadata[key]);
        writer.Set("general.alignment", Alignment);

        // A layer's experts go where the first of its stacked tensors was; the other two are dropped.
        var layerOf = layers.SelectMany(l => l.Value.Select(t => (t.Name, Layer: l.Key))).ToDictionary(x => x.Name, x => x.Layer);
        var placed = new HashSet<int>();
        int experts = 0;
        var plan = new List<(string Name, GgufTensorInfo Source, long[] Dimensions, long Offset, long Bytes)>();
        foreach (var t in h.Tensors)
        {
            if (!layerOf.TryGetValue(t.Name, out int layer))
            {
                plan.Add((t.Name, t, t.Dimensions, 0, t.ByteSize));
                continue;
            }
            if (!placed.Add(layer)) continue;
            var stacked = layers[layer];
            int n = (int)stacked[0].Dim(2);
            experts += n;
            for (int e = 0; e < n; e++)
                for (int m = 0; m < Stacked.Length; m++)
                {
                    var s = stacked[m];
                    long slice = s.ByteSize / n;
                    plan.Add((TensorNames.Gguf(TensorNames.PerExpert(Stacked[m]), layer, e), s, [s.Dim(0), s.Dim(1)], e * slice, slice));
                }
        }
        int done = 0;
        foreach (var (name, source, dims, offset, bytes) in plan)
        {
            writer.AddTensor(name, source.Type, dims, s =>
            {
                Copy(input, source, offset, bytes, s);
                progress?.Invoke(++done, plan.Count);
            });
        }
        writer.WriteTo(outputPath);
        return new Result(layers.Count, experts, plan.Count);
    }

    /// <summary>
    /// Each MoE layer's stacked gate, up and down tensors (3-D, the same expert count). A file without any is not
    /// an MoE model, or is already repacked; either way there is nothing to do, and the error says which.
    /// </summary>
    static SortedDictionary<int, GgufTensorInfo[]> StackedLayers(GgufFile file)
    {
        var h = file.Header;
        string arch = h.GetString("general.architecture") ?? throw new ModelLoadException("general.architecture is missing");
        long blocks = h.GetInt($"{arch}.block_count") ?? throw new ModelLoadException($"{arch}.block_count is missing");
        var layers = new SortedDictionary<int, GgufTensorInfo[]>();
        for (int l = 0; l < blocks; l++)
        {
            var found = Stacked.Select(id => h.FindTensor(TensorNames.Gguf(id, l))).ToArray();
            if (found.All(t => t is null)) continue;
            if (found.Any(t => t is null))
                throw new ModelLoadException($"layer {l} lacks {string.Join(", ", Stacked.Where((_, i) => found[i] is null).Select(id => TensorNames.Gguf(id, l)))} beside its other stacked expert tensors");
            var tensors = found.Select(t => t!).ToArray();
            foreach (var t in tensors)
                if (t.Dimensions.Length != 3 || t.Dim(2) != tensors[0].Dim(2) || t.Dim(2) < 1)
                    throw new ModelLoadException($"{t.Name} has shape {t.ShapeText}; a layer's stacked expert tensors must be 3-D with one expert count");
            layers[l] = tensors;
        }
        if (layers.Count > 0) return layers;
        if (h.Tensors.Any(t => TensorNames.IsRoutedExpert(t.Name)))
            throw new InvalidOperationException($"{Path.GetFileName(file.Path)} is already repacked: it holds a tensor per expert (blk.N.ffn_gate.E.weight) and no stacked experts");
        throw new ModelLoadException($"{Path.GetFileName(file.Path)} is not an MoE model: it has no stacked expert tensors (blk.N.ffn_gate_exps.weight)");
    }

    /// <summary>Writes <paramref name="bytes"/> of the tensor from <paramref name="offset"/> on, straight from the mapping.</summary>
    static unsafe void Copy(GgufFile input, GgufTensorInfo t, long offset, long bytes, Stream output)
    {
        byte* start = input.TensorPointer(t) + offset;
        for (long done = 0; done < bytes;)
        {
            int chunk = (int)Math.Min(bytes - done, 1 << 24);
            output.Write(new ReadOnlySpan<byte>(start + done, chunk));
            done += chunk;
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Formats.HuggingFace;
using MoeSpeq.Formats.Safetensors;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.HuggingFace;

/// <summary>How <see cref="HfDirectoryWriter"/> lays a model out.</summary>
public sealed record HfWriteOptions
{
    /// <summary>
    /// Largest shard in bytes: tensors, in name order, fill shards up to it (a larger tensor gets one of its own) and
    /// an index lists them; 0 writes one <c>model.safetensors</c> without an index.
    /// </summary>
    public long MaxShardBytes { get; init; }

    /// <summary>Write every tensor as this type (F32, F16 or BF16); null keeps F32/F16/BF16 tensors and dequantizes the others to F32.</summary>
    public GgmlType? Type { get; init; }
}

/// <summary>
/// Writes a GGUF model as a Hugging Face directory, applying <see cref="HfArchitectures"/> backwards: config.json from
/// the metadata, checkpoint names for the tensors (stacked experts split into a tensor per expert, rearranged tensors
/// put back in their checkpoint layout), safetensors shards with their index, and tokenizer.json. Reading the result
/// with <see cref="HfModelDirectory"/> gives the model back, bit for bit where no type was converted (tests, tools).
/// </summary>
public static unsafe class HfDirectoryWriter
{
    public sealed record Result(int Tensors, int Shards, long Bytes);

    /// <summary>One checkpoint tensor and the GGUF tensors (or expert slices of one) it is made from.</summary>
    sealed record Piece(GgufTensorInfo Source, int Slice, HfTensor Row);

    sealed record Output(string Name, GgmlType Type, long[] Shape, List<Piece> Pieces);

    public static Result Write(string ggufPath, string directory, HfWriteOptions? options = null)
    {
        using var file = GgufFile.Open(ggufPath);
        return Write(file, directory, options);
    }

    public static Result Write(GgufFile file, string directory, HfWriteOptions? options = null)
    {
        options ??= new HfWriteOptions();
        if (options.Type is { } t && SafetensorsDtypes.ToGgml(SafetensorsDtypes.FromGgml(t)) != t)
            throw new ArgumentException($"type {t} cannot be written to safetensors");
        var h = file.Header;
        string g = h.GetString("general.architecture") ?? throw new ModelLoadException("general.architecture is missing");
        var arch = HfArchitectures.ForGguf(g, h) ?? throw new ModelLoadException($"no Hugging Face architecture maps onto \"{g}\" (known: {string.Join(", ", HfArchitectures.All.Select(a => a.GgufName).Distinct())})");
        Directory.CreateDirectory(directory);

        var outputs = Outputs(file, arch, options);
        WriteConfig(h, arch, directory, has: name => outputs.ContainsKey(name));
        var (shards, bytes) = WriteShards(file, arch, outputs.Values.OrderBy(o => o.Name, StringComparer.Ordinal).ToList(), directory, options);
        if (h.GetString("tokenizer.ggml.model") is not null) HfTokenizerWriter.Write(h, directory);
        return new Result(outputs.Count, shards, bytes);
    }

    /// <summary>The checkpoint tensors, by name, each with the GGUF pieces it is made from.</summary>
    static Dictionary<string, Output> Outputs(GgufFile file, HfArchitecture arch, HfWriteOptions options)
    {
        var h = file.Header;
        string g = arch.GgufName;
        int blocks = (int)(h.GetInt($"{g}.block_count") ?? 0);
        int experts = (int)(h.GetInt($"{g}.expert_count") ?? 0);
        // GGUF name → the row (with layer and expert) that makes it.
        var reverse = new Dictionary<string, (HfTensor Row, int Layer, int Expert)>(StringComparer.Ordinal);
        foreach (var row in arch.Tensors)
            foreach (int l in row.PerLayer ? Enumerable.Range(0, blocks) : [-1])
                foreach (int e in row.PerExpert ? Enumerable.Range(0, experts) : [-1])
                    reverse[row.GgufName(l, e)] = (row, l, e);

        var outputs = new Dictionary<string, Output>(StringComparer.Ordinal);
        void Add(GgufTensorInfo t, int slice, string ggufName)
        {
            if (!reverse.TryGetValue(ggufName, out var m))
                throw new ModelLoadException($"{ggufName} has no name in the {arch.HfName} table");
            long[] dims = slice < 0 ? t.Dimensions : t.Dimensions[..^1];
            var type = options.Type ?? (t.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 ? t.Type : GgmlType.F32);
            string name = m.Row.HfName(m.Layer, m.Expert);
            long[] shape = m.Row.Transform?.HfShape(h, g, dims) ?? [.. dims.Reverse()];
            if (!outputs.TryGetValue(name, out var output)) outputs[name] = output = new Output(name, type, shape, []);
            else if (output.Type != type) throw new ModelLoadException($"{name} is made of GGUF tensors of different types ({output.Type}, {type})");
            output.Pieces.Add(new Piece(t, slice, m.Row));
        }
        var stacked = new Dictionary<string, (TensorId Id, int Layer)>(StringComparer.Ordinal);
        foreach (var id in new[] { TensorId.FfnGateExperts, TensorId.FfnUpExperts, TensorId.FfnDownExperts })
            for (int l = 0; l < blocks; l++) stacked[TensorNames.Gguf(id, l)] = (id, l);
        foreach (var t in h.Tensors)
        {
            if (!stacked.TryGetValue(t.Name, out var s)) Add(t, -1, t.Name);
            else
                for (int e = 0; e < t.Dim(2); e++) Add(t, e, TensorNames.Gguf(TensorNames.PerExpert(s.Id), s.Layer, e));
        }
        return outputs;
    }

    static void WriteConfig(GgufHeader h, HfArchitecture arch, string directory, Func<string, bool> has)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(arch.HfName),
            ["model_type"] = arch.ModelType,
        };
        foreach (var key in arch.EffectiveKeys.Where(k => !k.WritesLast)) key.Write(h, arch.GgufName, config);
        foreach (var key in arch.EffectiveKeys.Where(k => k.WritesLast)) key.Write(h, arch.GgufName, config);
        if (config["vocab_size"] is null && h.GetArray("tokenizer.ggml.tokens") is { } tokens) config["vocab_size"] = tokens.Count;
        config["tie_word_embeddings"] = !has("lm_head.weight");
        foreach (var (key, id) in new[] { ("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id") })
            if (h.GetInt(id) is long v) config[key] = v;
        File.WriteAllText(Path.Combine(directory, HfModelDirectory.ConfigFileName), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    static (int Shards, long Bytes) WriteShards(GgufFile file, HfArchitecture arch, List<Output> outputs, string directory, HfWriteOptions options)
    {
        var groups = new List<List<Output>> { new() };
        long size = 0;
        foreach (var o in outputs)
        {
            long bytes = ByteSize(o);
            if (options.MaxShardBytes > 0 && groups[^1].Count > 0 && size + bytes > options.MaxShardBytes)
            {
                groups.Add([]);
                size = 0;
            }
            groups[^1].Add(o);
            size += bytes;
        }
        var weightMap = new JsonObject();
        long total = 0;
        for (int s = 0; s < groups.Count; s++)
        {
            string name = options.MaxShardBytes > 0 ? $"model-{s + 1:D5}-of-{groups.Count:D5}.safetensors" : HfModelDirectory.SingleFileName;
            var writer = new SafetensorsWriter().SetMetadata("format", "pt");
            foreach (var o in groups[s])
            {
                writer.AddTensor(o.Name, SafetensorsDtypes.FromGgml(o.Type), o.Shape, stream => stream.Write(Bytes(file, arch, o)));
                weightMap[o.Name] = name;
            }
            total += writer.DataBytes;
            writer.WriteTo(Path.Combine(directory, name));
        }
        if (options.MaxShardBytes > 0)
        {
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            File.WriteAllText(Path.Combine(directory, HfShardIndex.FileName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        return (groups.Count, total);
    }

    static long ByteSize(Output o) => o.Shape.Aggregate((long)GgmlTypeInfo.RowBytes(o.Type, 1), (p, d) => p * d);

    /// <summary>A checkpoint tensor's bytes: its pieces converted to its type and, where rearranged, scattered back into place.</summary>
    static byte[] Bytes(GgufFile file, HfArchitecture arch, Output o)
    {
        var result = new byte[ByteSize(o)];
        int elementSize = GgmlTypeInfo.RowBytes(o.Type, 1);
        foreach (var piece in o.Pieces)
        {
            var bytes = Converted(file, piece, o.Type);
            if (piece.Row.Transform is { } transform)
                transform.Rearrangement(file.Header, arch.GgufName, o.Shape, elementSize).Scatter(bytes, result);
            else if (o.Pieces.Count == 1 && bytes.Length == result.Length) return bytes;
            else throw new ModelLoadException($"{o.Name} is made of {o.Pieces.Count} GGUF tensors but has no rearrangement to combine them");
        }
        return result;
    }

    /// <summary>The bytes of a GGUF tensor (or one expert's slice of a stacked one) as <paramref name="type"/>, row by row.</summary>
    static byte[] Converted(GgufFile file, Piece piece, GgmlType type)
    {
        var t = piece.Source;
        long sliceBytes = piece.Slice < 0 ? t.ByteSize : t.ByteSize / t.Dim(2);
        byte* data = file.TensorPointer(t) + (piece.Slice < 0 ? 0 : sliceBytes * piece.Slice);
        int cols = (int)t.Dim(0);
        long rows = cols == 0 ? 0 : (piece.Slice < 0 ? t.ElementCount : t.ElementCount / t.Dim(2)) / cols;
        if (t.Type == type) return new ReadOnlySpan<byte>(data, checked((int)sliceBytes)).ToArray();
        int srcRow = GgmlTypeInfo.RowBytes(t.Type, cols), dstRow = GgmlTypeInfo.RowBytes(type, cols);
        var result = new byte[checked(rows * dstRow)];
        var values = new float[cols];
        for (long r = 0; r < rows; r++)
        {
            Dequantize.Row(t.Type, new ReadOnlySpan<byte>(data + r * srcRow, srcRow), values);
            Quantize.Row(type, values, result.AsSpan(checked((int)(r * dstRow)), dstRow));
        }
        return result;
    }
}

using MoeSpeq.Formats;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Formats.HuggingFace;
using MoeSpeq.Formats.Safetensors;

namespace MoeSpeq.Model.HuggingFace;

/// <summary>
/// Opens a Hugging Face model directory (config.json, <c>model.safetensors</c> or shards listed in
/// <c>model.safetensors.index.json</c>, tokenizer.json) as a <see cref="GgufFile"/>: the metadata a converter to GGUF
/// would write (from the <see cref="HfArchitectures"/> table and <see cref="HfTokenizer"/>) over the shards' tensors,
/// mapped where they lie, renamed as GGUF names them and, where a converter rearranges one, rearranged when loaded.
/// Architectures then load it exactly as they load a GGUF file; nothing is converted on disk.
/// </summary>
/// <remarks>
/// Every checkpoint tensor must have a row in the table (an unknown tensor is an error, not something to skip, since
/// it usually means the architecture was misread), except the ones converters drop: rotary inverse-frequency
/// buffers, <c>lm_head.weight</c> of a tied model, and layers past <c>num_hidden_layers</c> (DeepSeek-V3's
/// multi-token-prediction layer).
/// </remarks>
public static class HfModelDirectory
{
    public const string ConfigFileName = "config.json";
    public const string SingleFileName = "model.safetensors";

    /// <summary>Whether <paramref name="path"/> is a directory (and so to be read as a Hugging Face model).</summary>
    public static bool IsDirectory(string path) => Directory.Exists(path);

    public static GgufFile Open(string directory)
    {
        directory = Path.TrimEndingDirectorySeparator(directory);
        var config = HfJsonFile.Load(Path.Combine(directory, ConfigFileName));
        string hfName = config.Strings("architectures") is [var first, ..] ? first : throw config.Missing("architectures");
        var arch = HfArchitectures.Find(hfName)
            ?? throw new ModelLoadException($"{ConfigFileName}: architecture {hfName} is not supported (supported: {string.Join(", ", HfArchitectures.All.Select(a => a.HfName))})");

        var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal)
        {
            ["general.architecture"] = new(GgufValueType.String, arch.GgufName),
            ["general.type"] = new(GgufValueType.String, "model"),
            ["general.name"] = new(GgufValueType.String, Path.GetFileName(Path.GetFullPath(directory))),
        };
        foreach (var key in arch.EffectiveKeys) key.Read(config, arch.GgufName, metadata);
        if (File.Exists(Path.Combine(directory, HfTokenizer.FileName)))
            foreach (var (key, value) in HfTokenizer.ToGguf(directory, config)) metadata[key] = value;
        var header = Header(metadata, []);

        var shards = OpenShards(directory);
        try
        {
            bool tied = config.Bool("tie_word_embeddings") ?? arch.TiedByDefault;
            var tensors = MapTensors(arch, header, shards, tied);
            if (!tied && !tensors.Any(t => t.Name == TensorNames.Gguf(TensorId.Output)))
                throw config.Invalid("tie_word_embeddings", "is false, but no shard holds the output projection (lm_head.weight)");
            header = Header(metadata, tensors);
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
        return GgufFile.Compose(directory, header, [.. shards.Select(s => (s.Mapping, s.Header.DataOffset))]);
    }

    static GgufHeader Header(Dictionary<string, GgufValue> metadata, IReadOnlyList<GgufTensorInfo> tensors) => new()
    {
        Version = 3,
        Metadata = metadata,
        MetadataKeys = [.. metadata.Keys],
        Tensors = tensors,
        // Safetensors packs tensors without padding.
        Alignment = 1,
        DataOffset = 0,
    };

    /// <summary>The shards the index lists (each holding exactly the tensors it places there), or the single file.</summary>
    static List<SafetensorsFile> OpenShards(string directory)
    {
        string indexPath = Path.Combine(directory, HfShardIndex.FileName);
        var shards = new List<SafetensorsFile>();
        try
        {
            if (!File.Exists(indexPath))
            {
                string single = Path.Combine(directory, SingleFileName);
                if (!File.Exists(single))
                    throw new HfFormatException(SingleFileName, "", $"missing: {directory} holds neither {SingleFileName} nor {HfShardIndex.FileName}");
                shards.Add(SafetensorsFile.Open(single));
                return shards;
            }
            var index = HfShardIndex.Load(indexPath);
            var shardOf = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var name in index.Shards)
            {
                string path = Path.Combine(directory, name);
                if (!File.Exists(path))
                {
                    string example = index.WeightMap.First(kv => kv.Value == name).Key;
                    throw new HfFormatException(HfShardIndex.FileName, "weight_map", $"shard {name} (which holds {example}) is missing from {directory}");
                }
                shardOf[name] = shards.Count;
                shards.Add(SafetensorsFile.Open(path));
            }
            foreach (var (tensor, shard) in index.WeightMap)
            {
                if (shards[shardOf[shard]].Header.FindTensor(tensor) is null)
                    throw new HfFormatException(HfShardIndex.FileName, $"weight_map.{tensor}", $"places the tensor in {shard}, which does not hold it");
            }
            foreach (var shard in shards)
                foreach (var t in shard.Header.Tensors)
                {
                    string name = Path.GetFileName(shard.Path);
                    if (!index.WeightMap.TryGetValue(t.Name, out var listed) || listed != name)
                        throw new HfFormatException(name, t.Name, listed is null
                            ? $"is not in {HfShardIndex.FileName}"
                            : $"is also here, but {HfShardIndex.FileName} places it in {listed}");
                }
            return shards;
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    static List<GgufTensorInfo> MapTensors(HfArchitecture arch, GgufHeader metadata, List<SafetensorsFile> shards, bool tied)
    {
        var table = NameTable.Of(arch);
        string g = arch.GgufName;
        long blocks = metadata.GetInt($"{g}.block_count")!.Value;
        long experts = metadata.GetInt($"{g}.expert_count") ?? 0;
        var tensors = new List<GgufTensorInfo>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int file = 0; file < shards.Count; file++)
        {
            var shard = shards[file];
            string shardName = Path.GetFileName(shard.Path);
            foreach (var t in shard.Header.Tensors)
            {
                if (!table.TryMatch(t.Name, out var rows, out int layer, out int expert))
                {
                    if (t.Name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || NameTable.LayerOf(t.Name) >= blocks) continue;
                    throw new HfFormatException(shardName, t.Name, $"has no GGUF name in the {arch.HfName} table (is the architecture in {ConfigFileName} right?)");
                }
                if (layer >= blocks) continue;
                if (tied && rows[0].Id == TensorId.Output) continue;
                if (expert >= experts)
                    throw new HfFormatException(shardName, t.Name, $"is expert {expert}, but {ConfigFileName} gives {experts} experts");
                var type = TypeOf(t, shard);
                foreach (var row in rows)
                {
                    var info = Map(row, t, type, metadata, g, layer, expert) with { File = file, Origin = $"{t.Name} in {shardName}" };
                    if (!names.Add(info.Name)) throw new HfFormatException(shardName, t.Name, $"maps to {info.Name}, which another tensor already maps to");
                    tensors.Add(info);
                }
            }
        }
        return tensors;
    }

    static Tensors.GgmlType TypeOf(SafetensorsTensorInfo t, SafetensorsFile shard)
    {
        try
        {
            return t.Type;
        }
        catch (SafetensorsFormatException e)
        {
            throw e.InFile(shard.Path);
        }
    }

    /// <summary>The GGUF tensor a row makes of checkpoint tensor <paramref name="t"/>: dims reversed to ne order, rearranged if the row says so.</summary>
    static GgufTensorInfo Map(HfTensor row, SafetensorsTensorInfo t, Tensors.GgmlType type, GgufHeader metadata, string arch, int layer, int expert)
    {
        string name = row.GgufName(layer, expert);
        if (t.Shape.Length is 0 or > GgufReader.MaxDimensions)
            throw new ModelLoadException($"{t.Name} has shape {t.ShapeText}: a GGUF tensor has 1 to {GgufReader.MaxDimensions} dimensions");
        if (row.Transform is not { } transform) return new GgufTensorInfo(name, [.. t.Shape.Reverse()], type, t.Begin, t.ByteSize);
        TensorRearrangement r;
        try
        {
            r = transform.Rearrangement(metadata, arch, t.Shape, SafetensorsDtypes.ElementSize(t.Dtype)!.Value);
        }
        catch (Exception e) when (e is ModelLoadException or ArgumentException)
        {
            throw new ModelLoadException($"{t.Name}: {e.Message}");
        }
        if (r.SourceElements != t.ElementCount)
            throw new ModelLoadException($"{t.Name} has {t.ElementCount} elements, but its rearrangement into {name} ({r}) reads {r.SourceElements}");
        return new GgufTensorInfo(name, [.. transform.OutputShape(t.Shape, r).Reverse()], type, t.Begin, r.OutputBytes) { Rearrangement = r };
    }
}

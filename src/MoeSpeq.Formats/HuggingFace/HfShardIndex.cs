using System.Text.Json;

namespace MoeSpeq.Formats.HuggingFace;

/// <summary>
/// <c>model.safetensors.index.json</c> of a sharded checkpoint: which shard file holds each tensor
/// (<c>weight_map</c>). Shard names must be plain file names in the model directory.
/// </summary>
public sealed class HfShardIndex
{
    public const string FileName = "model.safetensors.index.json";

    HfShardIndex(IReadOnlyDictionary<string, string> weightMap) => WeightMap = weightMap;

    /// <summary>Tensor name → shard file name.</summary>
    public IReadOnlyDictionary<string, string> WeightMap { get; }

    /// <summary>The shard files, in order of their first appearance in the index.</summary>
    public IReadOnlyList<string> Shards => [.. WeightMap.Values.Distinct(StringComparer.Ordinal)];

    public static HfShardIndex Load(string path)
    {
        var json = HfJsonFile.Load(path);
        if (json.Find("weight_map") is not { } map) throw json.Missing("weight_map");
        if (map.ValueKind != JsonValueKind.Object) throw json.Invalid("weight_map", $"must be an object of tensor name → shard file, not {map.ValueKind}");
        var weights = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in map.EnumerateObject())
        {
            string field = $"weight_map.{entry.Name}";
            if (entry.Value.ValueKind != JsonValueKind.String) throw new HfFormatException(json.FileName, field, $"must name a shard file, found {entry.Value.ValueKind}");
            string shard = entry.Value.GetString()!;
            if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\') || Path.IsPathRooted(shard))
                throw new HfFormatException(json.FileName, field, $"\"{shard}\" is not a file name in the model directory");
            weights.Add(entry.Name, shard);
        }
        if (weights.Count == 0) throw json.Invalid("weight_map", "is empty");
        return new HfShardIndex(weights);
    }
}

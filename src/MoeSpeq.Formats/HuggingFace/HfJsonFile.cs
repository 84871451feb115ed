using System.Text.Json;

namespace MoeSpeq.Formats.HuggingFace;

/// <summary>
/// A JSON object read from one of a model directory's files (config.json, tokenizer_config.json, …), with getters
/// that name the file and key when a value is missing or of the wrong kind. A key whose value is null counts as
/// absent, as Hugging Face's own loaders treat it.
/// </summary>
public sealed class HfJsonFile
{
    /// <summary>config.json and friends are kilobytes; tokenizer.json can be tens of MB. Anything near this is not one of them.</summary>
    const long MaxBytes = 1L << 30;

    HfJsonFile(string fileName, JsonElement root, string prefix)
    {
        FileName = fileName;
        Root = root;
        _prefix = prefix;
    }

    readonly string _prefix;

    /// <summary>The file's name, for messages (with the path of a nested object inside it when this is one).</summary>
    public string FileName { get; }
    public JsonElement Root { get; }

    /// <summary>Reads <paramref name="path"/>; a missing file or one that is not a JSON object is an <see cref="HfFormatException"/>.</summary>
    public static HfJsonFile Load(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        if (!File.Exists(path)) throw new HfFormatException(name, "", $"missing (looked for {path})");
        long length = new FileInfo(path).Length;
        if (length > MaxBytes) throw new HfFormatException(name, "", $"{length} bytes is too large for this file");
        JsonElement root;
        try
        {
            // Duplicate keys would make "which value wins" a guess; Hugging Face's own files have none.
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64, AllowDuplicateProperties = false });
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new HfFormatException(name, "", $"is not valid JSON ({e.Message})");
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new HfFormatException(name, "", $"must hold a JSON object, not {root.ValueKind}");
        return new HfJsonFile(name, root, "");
    }

    /// <summary>Wraps an object read elsewhere (tests, nested objects).</summary>
    public static HfJsonFile Of(string fileName, JsonElement root) =>
        root.ValueKind == JsonValueKind.Object ? new HfJsonFile(fileName, root, "") : throw new HfFormatException(fileName, "", $"must hold a JSON object, not {root.ValueKind}");

    /// <summary>The key's path in the file, for messages: <c>rope_scaling.factor</c>.</summary>
    public string KeyPath(string key) => _prefix + key;

    /// <summary>The value of <paramref name="key"/>, or null when it is absent or JSON null.</summary>
    public JsonElement? Find(string key) =>
        Root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public bool Has(string key) => Find(key) is not null;

    /// <summary>The first of <paramref name="keys"/> that is present, or null.</summary>
    public string? FirstPresent(IEnumerable<string> keys) => keys.FirstOrDefault(Has);

    public long? Int(string key)
    {
        if (Find(key) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long i)) return i;
        // Some writers store whole numbers as 4096.0.
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 1e15) return (long)d;
        throw Wrong(key, "an integer", v);
    }

    public double? Number(string key)
    {
        if (Find(key) is not { } v) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d) ? d : throw Wrong(key, "a finite number", v);
    }

    public bool? Bool(string key) => Find(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        { } v => throw Wrong(key, "true or false", v),
    };

    public string? String(string key) => Find(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        { } v => throw Wrong(key, "a string", v),
    };

    /// <summary>A nested object, as a file of its own for messages (<c>config.json: rope_scaling.factor</c>).</summary>
    public HfJsonFile? Object(string key) => Find(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Object } v => new HfJsonFile(FileName, v, _prefix + key + "."),
        { } v => throw Wrong(key, "an object", v),
    };

    public string[]? Strings(string key)
    {
        if (Find(key) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw Wrong(key, "an array of strings", v);
        return [.. v.EnumerateArray().Select(e => e.GetString()!)];
    }

    /// <summary>The error for a key that is required and absent.</summary>
    public HfFormatException Missing(string key, string? why = null) =>
        new(FileName, KeyPath(key), "required key is missing" + (why is null ? "" : $" ({why})"));

    public HfFormatException Invalid(string key, string problem) => new(FileName, KeyPath(key), problem);

    HfFormatException Wrong(string key, string expected, JsonElement v)
    {
        string text = v.GetRawText();
        return new HfFormatException(FileName, KeyPath(key), $"must be {expected}, found {(text.Length <= 64 ? text : text[..64] + "…")}");
    }
}

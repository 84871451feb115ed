using System.Globalization;
using System.Text.Json.Nodes;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Formats.HuggingFace;

namespace MoeSpeq.Model.HuggingFace;

/// <summary>
/// One row of an architecture's metadata table: how a converter to GGUF derives the key <c>{arch}.{Gguf}</c> from
/// config.json (<see cref="Read"/>), and how a writer puts it back (<see cref="Write"/>). HF names may be paths into
/// nested objects (<c>rope_scaling.factor</c>); a name list means the first one present.
/// </summary>
public abstract record HfKey(string Gguf)
{
    internal abstract void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata);

    /// <summary>Sets the config.json entries this key came from, given the GGUF <paramref name="header"/>.</summary>
    internal virtual void Write(GgufHeader header, string arch, JsonObject config) { }

    /// <summary>Whether <see cref="Write"/> needs other entries written first (it solves for the one that is left).</summary>
    internal virtual bool WritesLast => false;

    /// <summary>The object holding the last segment of <paramref name="path"/>, and that segment; null when a parent is absent.</summary>
    internal static (HfJsonFile? Holder, string Key) Resolve(HfJsonFile config, string path)
    {
        var parts = path.Split('.');
        var holder = config;
        for (int i = 0; i < parts.Length - 1 && holder is not null; i++) holder = holder.Object(parts[i]);
        return (holder, parts[^1]);
    }

    internal static bool Has(HfJsonFile config, string path) => Resolve(config, path) is ({ } h, var k) && h.Has(k);

    internal static long? Int(HfJsonFile config, string path) => Resolve(config, path) is ({ } h, var k) ? h.Int(k) : null;

    internal static double? Number(HfJsonFile config, string path) => Resolve(config, path) is ({ } h, var k) ? h.Number(k) : null;

    internal static JsonNode? Find(JsonObject config, string path)
    {
        JsonNode? node = config;
        foreach (var part in path.Split('.')) node = node is JsonObject o ? o[part] : null;
        return node;
    }

    /// <summary>Sets <paramref name="path"/> in <paramref name="config"/>, creating parent objects.</summary>
    internal static void Set(JsonObject config, string path, JsonNode? value)
    {
        var parts = path.Split('.');
        var holder = config;
        foreach (var part in parts[..^1])
        {
            if (holder[part] is not JsonObject child) holder[part] = child = [];
            holder = child;
        }
        holder[parts[^1]] = value;
    }

    internal static HfFormatException Invalid(HfJsonFile config, string path, string problem) => config.Invalid(path, problem);
}

/// <summary>A value copied from the first present HF name, as an unsigned integer, a float, a bool or a string.</summary>
public sealed record HfCopy(string Gguf, GgufValueType Type, params string[] Hf) : HfKey(Gguf)
{
    /// <summary>Loading fails, naming the HF keys, when none is present.</summary>
    public bool Required { get; init; }
    /// <summary>The value a converter writes when none is present (a CLR value of <see cref="Type"/>).</summary>
    public object? Default { get; init; }

    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata)
    {
        string? path = Hf.FirstOrDefault(p => Has(config, p));
        if (path is null)
        {
            if (Default is not null) metadata[$"{arch}.{Gguf}"] = new GgufValue(Type, Default);
            else if (Required) throw config.Missing(string.Join(" or ", Hf), $"GGUF {arch}.{Gguf}");
            return;
        }
        var (holder, key) = Resolve(config, path);
        metadata[$"{arch}.{Gguf}"] = Type switch
        {
            GgufValueType.UInt32 => holder!.Int(key) is long v and >= 0 and <= uint.MaxValue ? new GgufValue(Type, (uint)v)
                : throw Invalid(config, path, $"{holder.Int(key)} is not an unsigned 32-bit count"),
            GgufValueType.Float32 => new GgufValue(Type, (float)holder!.Number(key)!.Value),
            GgufValueType.Bool => new GgufValue(Type, holder!.Bool(key)!.Value),
            GgufValueType.String => new GgufValue(Type, holder!.String(key)!),
            _ => throw new InvalidOperationException($"HfCopy cannot copy a {Type}"),
        };
    }

    internal override void Write(GgufHeader header, string arch, JsonObject config)
    {
        if (header.Find($"{arch}.{Gguf}") is not { } v || Find(config, Hf[0]) is not null) return;
        Set(config, Hf[0], v.Value switch
        {
            float f => JsonValue.Create(double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)),
            double d => JsonValue.Create(d),
            bool b => JsonValue.Create(b),
            string s => JsonValue.Create(s),
            _ => JsonValue.Create(v.AsInt64()),
        });
    }
}

/// <summary>A value the converter writes whatever config.json says (DeepSeek's MLA is one key/value head).</summary>
public sealed record HfConstant(string Gguf, GgufValue Value) : HfKey(Gguf)
{
    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata) => metadata[$"{arch}.{Gguf}"] = Value;
}

/// <summary>The sum of integer HF values, all required (DeepSeek's key length: kv_lora_rank + qk_rope_head_dim).</summary>
public sealed record HfSum(string Gguf, params string[] Hf) : HfKey(Gguf)
{
    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata)
    {
        long sum = 0;
        foreach (var path in Hf) sum += Int(config, path) ?? throw config.Missing(path, $"GGUF {arch}.{Gguf} is {string.Join(" + ", Hf)}");
        if (sum is < 0 or > uint.MaxValue) throw Invalid(config, Hf[0], $"{string.Join(" + ", Hf)} = {sum} is out of range");
        metadata[$"{arch}.{Gguf}"] = new GgufValue(GgufValueType.UInt32, (uint)sum);
    }

    internal override bool WritesLast => true;

    /// <summary>Solves for the one addend the other rows did not write.</summary>
    internal override void Write(GgufHeader header, string arch, JsonObject config)
    {
        if (header.GetInt($"{arch}.{Gguf}") is not long total) return;
        var missing = Hf.Where(p => Find(config, p) is null).ToArray();
        if (missing.Length != 1) return;
        long known = Hf.Where(p => p != missing[0]).Sum(p => Find(config, p)!.GetValue<long>());
        Set(config, missing[0], JsonValue.Create(total - known));
    }
}

/// <summary>A string HF value looked up in a table of GGUF values (the gating function, the RoPE scaling type); other strings are errors.</summary>
public sealed record HfMap(string Gguf, string[] Hf, (string Hf, GgufValue? Gguf)[] Values) : HfKey(Gguf)
{
    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata)
    {
        if (Hf.FirstOrDefault(p => Has(config, p)) is not { } path) return;
        var (holder, key) = Resolve(config, path);
        string value = holder!.String(key)!;
        int i = Array.FindIndex(Values, v => v.Hf == value);
        if (i < 0) throw Invalid(config, path, $"\"{value}\" is not supported (supported: {string.Join(", ", Values.Select(v => v.Hf))})");
        if (Values[i].Gguf is { } mapped) metadata[$"{arch}.{Gguf}"] = mapped;
    }

    internal override void Write(GgufHeader header, string arch, JsonObject config)
    {
        if (header.Find($"{arch}.{Gguf}") is not { } v) return;
        var match = Values.FirstOrDefault(m => m.Gguf is { } g && g.ToString() == v.ToString());
        if (match.Hf is not null) Set(config, Hf[0], JsonValue.Create(match.Hf));
    }
}

/// <summary>An HF number times a factor (DeepSeek's yarn_log_multiplier is 0.1 × mscale_all_dim).</summary>
public sealed record HfScaled(string Gguf, string[] Hf, double Factor) : HfKey(Gguf)
{
    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata)
    {
        if (Hf.FirstOrDefault(p => Has(config, p)) is not { } path) return;
        metadata[$"{arch}.{Gguf}"] = new GgufValue(GgufValueType.Float32, (float)(Number(config, path)!.Value * Factor));
    }

    internal override void Write(GgufHeader header, string arch, JsonObject config)
    {
        if (header.GetDouble($"{arch}.{Gguf}") is double v) Set(config, Hf[0], JsonValue.Create(Math.Round(v / Factor, 6)));
    }
}

/// <summary>A value computed from several HF names, forward only (llama's rope.dimension_count: head_dim, else hidden_size / heads).</summary>
public sealed record HfDerived(string Gguf, Func<HfJsonFile, GgufValue?> Value) : HfKey(Gguf)
{
    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata)
    {
        if (Value(config) is { } v) metadata[$"{arch}.{Gguf}"] = v;
    }
}

/// <summary>
/// A setting the GGUF architecture fixes and config.json merely states (Qwen3-MoE always renormalises its top-k
/// weights): a config that says otherwise is refused rather than run wrongly. <paramref name="Default"/> is the
/// value transformers assumes when the key is absent.
/// </summary>
public sealed record HfExpect(string Hf, bool Value, bool Default) : HfKey("")
{
    internal override void Read(HfJsonFile config, string arch, IDictionary<string, GgufValue> metadata)
    {
        var (holder, key) = Resolve(config, Hf);
        bool actual = holder?.Bool(key) ?? Default;
        if (actual != Value)
            throw Invalid(config, Hf, $"is {actual.ToString().ToLowerInvariant()}{(holder?.Has(key) == true ? "" : " (transformers' default)")}, but the {arch} architecture always computes as if it were {Value.ToString().ToLowerInvariant()}");
    }

    internal override void Write(GgufHeader header, string arch, JsonObject config) => Set(config, Hf, JsonValue.Create(Value));
}

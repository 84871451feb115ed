using System.Text.Json;

namespace MoeSpeq.TestSupport;

/// <summary>One golden model: its GGUF, llama.cpp's logits for the prompt, greedy ids and perplexity (see golden/README.md).</summary>
public sealed class GoldenCase
{
    GoldenCase(string dir, JsonElement json)
    {
        Name = json.GetProperty("name").GetString()!;
        ModelPath = Path.Combine(dir, json.GetProperty("file").GetString()!);
        Architecture = json.GetProperty("architecture").GetString()!;
        PromptIds = [.. json.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32())];
        GreedyIds = [.. json.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32())];
        GreedyMargins = [.. json.GetProperty("greedy_top1_margin").EnumerateArray().Select(e => e.GetDouble())];
        PromptTop1 = [.. json.GetProperty("prompt_top1").EnumerateArray().Select(e => e.GetInt32())];
        PromptTop1Margin = [.. json.GetProperty("prompt_top1_margin").EnumerateArray().Select(e => e.GetDouble())];
        var shape = json.GetProperty("logits_shape");
        Tokens = shape[0].GetInt32();
        Vocab = shape[1].GetInt32();
        LogitsPath = Path.Combine(dir, json.GetProperty("logits_file").GetString()!);
        Perplexity = json.GetProperty("perplexity").GetProperty("ppl").GetDouble();
        if (json.TryGetProperty("f32_reference", out var f32))
        {
            F32GreedyIds = [.. f32.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32())];
            F32GreedyMargins = [.. f32.GetProperty("greedy_top1_margin").EnumerateArray().Select(e => e.GetDouble())];
            F32Perplexity = f32.GetProperty("perplexity").GetDouble();
        }
    }

    public string Name { get; }
    public string ModelPath { get; }
    public string Architecture { get; }
    public int[] PromptIds { get; }
    public int[] GreedyIds { get; }
    public double[] GreedyMargins { get; }
    public int[] PromptTop1 { get; }
    public double[] PromptTop1Margin { get; }
    public int Tokens { get; }
    public int Vocab { get; }
    public string LogitsPath { get; }
    public double Perplexity { get; }
    public int[]? F32GreedyIds { get; }
    public double[]? F32GreedyMargins { get; }
    public double? F32Perplexity { get; }
    /// <summary>True when every weight is F32 (no f32_reference block): logits must then match to 1e-4.</summary>
    public bool AllF32 => F32GreedyIds is null;

    public float[] ReadLogits()
    {
        var bytes = File.ReadAllBytes(LogitsPath);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    public static GoldenCase Load(string jsonPath) =>
        new(Path.GetDirectoryName(jsonPath)!, JsonDocument.Parse(File.ReadAllBytes(jsonPath)).RootElement);

    /// <summary>Golden cases of the given architectures found in <paramref name="dir"/>.</summary>
    public static IEnumerable<GoldenCase> All(string dir, params string[] architectures) =>
        Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal).Select(Load)
            .Where(g => architectures.Length == 0 || architectures.Contains(g.Architecture));
}

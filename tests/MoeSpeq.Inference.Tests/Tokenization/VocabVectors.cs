using System.Text;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.TestSupport;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenizer test vectors (<c>ggml-vocab-NAME.gguf</c> + <c>.inp</c> + <c>.out</c>) bundled under
/// tests/data/vocab: inputs separated by <c>\n__ggml_vocab_test__\n</c>, read without newline translation, and one
/// line of ids per input, tokenized with add_special = false, parse_special = false.
/// </summary>
static class VocabVectors
{
    public const string Separator = "\n__ggml_vocab_test__\n";

    public static string VocabPath(string name) => TestPaths.Data("vocab", $"ggml-vocab-{name}.gguf");

    static readonly Dictionary<string, Tokenizer> Cache = new();

    public static Tokenizer Load(string name)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(name, out var cached)) return cached;
            using var file = GgufFile.Open(VocabPath(name));
            return Cache[name] = Tokenizer.FromGguf(file.Header);
        }
    }

    public static (string Text, int[] Ids)[] Cases(string name)
    {
        string inputs = Encoding.UTF8.GetString(File.ReadAllBytes(VocabPath(name) + ".inp"));
        var texts = inputs.Split(Separator).ToList();
        if (texts[^1].Length == 0) texts.RemoveAt(texts.Count - 1); // the separator after the final case

        var lines = Encoding.UTF8.GetString(File.ReadAllBytes(VocabPath(name) + ".out")).Split('\n').ToList();
        if (lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        if (lines.Count != texts.Count)
            throw new InvalidDataException($"{name}: {texts.Count} inputs but {lines.Count} expected-id lines");

        return texts.Select((t, i) => (t, lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToArray();
    }
}

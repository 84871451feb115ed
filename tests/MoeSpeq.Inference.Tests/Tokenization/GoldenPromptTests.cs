using System.Text.Json;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>
/// The golden models carry real tokenizers (llama-spm, phi-3, and the deepseek-coder byte-level BPE whose vocab is
/// not bundled); each JSON records llama.cpp's ids for its prompt with add_special = true.
/// </summary>
public class GoldenPromptTests
{
    public static TheoryData<string> Models =>
        ["qwen2moe", "qwen3moe", "olmoe", "deepseek2-lite", "deepseek3", "gpt-oss", "mixtral-moe-f32", "llama-draft", "phimoe"];

    [Theory]
    [MemberData(nameof(Models))]
    public void PromptIds_MatchLlamaCpp(string model)
    {
        string json = TestPaths.Shared("golden", model + ".json");
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        string prompt = root.GetProperty("prompt_text").GetString()!;
        int[] expected = root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        bool addSpecial = root.GetProperty("prompt_add_special").GetBoolean();

        using var file = GgufFile.Open(TestPaths.Shared("golden", model + ".gguf"));
        var tokenizer = Tokenizer.FromGguf(file.Header);

        Assert.Equal(expected, tokenizer.Encode(prompt, addSpecial));
        Assert.Equal(root.GetProperty("tokenizer").GetProperty("n_vocab").GetInt32(), tokenizer.VocabSize);
        Assert.Equal(prompt, tokenizer.Decode(expected));
    }

    /// <summary>deepseek-coder splits every digit, and CJK runs apart from Latin letters (its pre-tokenizer regexes).</summary>
    [Fact]
    public void DeepseekCoder_PreTokenizer()
    {
        using var file = GgufFile.Open(TestPaths.Shared("golden", "qwen2moe.gguf"));
        var tokenizer = Tokenizer.FromGguf(file.Header);
        Assert.Equal("deepseek-coder", file.Header.GetString("tokenizer.ggml.pre"));

        foreach (string text in new[] { "x = 12345;\nprint(x)", "我想在apple工作1314151天～", "Hello, y'all!\r\n\tindented" })
        {
            var ids = tokenizer.Encode(text, addSpecial: false);
            Assert.Equal(text, tokenizer.Decode(ids.ToArray()));
        }
        var digits = tokenizer.Encode("12345", addSpecial: false);
        Assert.Equal(5, digits.Count);
        Assert.All(digits, id => Assert.Equal(1, tokenizer.TokenBytes(id).Length));
        Assert.True(tokenizer.IsEndOfGeneration(tokenizer.EosId));
    }
}

using System.Diagnostics;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

public class BpeTokenizerTests
{
    static Tokenizer Gpt2 => VocabVectors.Load("gpt-2");

    [Fact]
    public void Gpt2_Metadata_AndEndOfText()
    {
        var t = Gpt2;
        Assert.Equal(50257, t.VocabSize);
        Assert.Equal(50256, t.BosId);
        Assert.False(t.AddBos); // byte-level BPE adds no BOS unless the file or its pre-type says so
        Assert.False(t.AddSpacePrefix);
        Assert.True(t.IsEndOfGeneration(50256));
        Assert.Equal([464, 2068], t.Encode("The quick", addSpecial: true));
    }

    [Fact]
    public void ParseSpecial_EndOfText()
    {
        var t = Gpt2;
        Assert.Equal([15496, 50256, 15496], t.Encode("Hello<|endoftext|>Hello", false, parseSpecial: true));
        var literal = t.Encode("Hello<|endoftext|>", false, parseSpecial: false);
        Assert.DoesNotContain(50256, literal);
        Assert.Equal("Hello<|endoftext|>", t.Decode(literal.ToArray()));
        Assert.Equal("Hello", t.Decode([15496, 50256]));
        Assert.Equal("Hello<|endoftext|>", t.Decode([15496, 50256], renderSpecial: true));
    }

    [Fact]
    public void TokenBytes_UndoTheByteMapping()
    {
        var t = Gpt2;
        int space = t.Encode(" ", false).Single();
        Assert.Equal("Ġ", t.TokenText(space));
        Assert.Equal([(byte)' '], t.TokenBytes(space).ToArray());
        // "é" alone is two byte tokens here or one merged token; either way the bytes are its UTF-8.
        var ids = t.Encode("é", false);
        Assert.Equal([0xC3, 0xA9], ids.SelectMany(id => t.TokenBytes(id).ToArray()));
    }

    /// <summary>deepseek-coder's user-defined tokens (single GPT-2 byte characters such as 'õ') are matched even without parse_special.</summary>
    [Fact]
    public void DeepseekCoder_UserDefinedTokens_AlwaysMatch()
    {
        using var file = GgufFile.Open(TestPaths.Shared("golden", "qwen2moe.gguf"));
        var t = Tokenizer.FromGguf(file.Header);
        Assert.Equal("õ", t.TokenText(32000));
        Assert.Contains(32000, t.Encode("cõde", addSpecial: false, parseSpecial: false));
        Assert.DoesNotContain(32013, t.Encode("<｜begin▁of▁sentence｜>", addSpecial: false, parseSpecial: false));
        Assert.Equal([32013], t.Encode("<｜begin▁of▁sentence｜>", addSpecial: false, parseSpecial: true));
    }

    [Fact]
    public void EncodingValidTxt_TakesMilliseconds()
    {
        string text = File.ReadAllText(TestPaths.Shared("fixtures", "valid.txt"));
        var t = Gpt2;
        var ids = new List<int>();
        t.Encode(text, ids, addSpecial: false); // warm-up: JIT and regexes
        using var file = GgufFile.Open(VocabVectors.VocabPath("gpt-2"));
        var cold = Tokenizer.FromGguf(file.Header); // an empty word cache: every word is merged
        var sw = Stopwatch.StartNew();
        ids.Clear();
        cold.Encode(text, ids, addSpecial: false);
        sw.Stop();
        Assert.True(sw.ElapsedMilliseconds < 500, $"encoding {text.Length} chars took {sw.ElapsedMilliseconds} ms");
        Assert.Equal(text, t.Decode(ids.ToArray()));
    }
}

using System.Diagnostics;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>SentencePiece behaviour on the project's own vocab (fixtures/README, Tokenizer section) and on llama-spm.</summary>
public class SpmTokenizerTests
{
    static Tokenizer Fixture => VocabVectors.Load("moe-fixture");

    [Fact]
    public void Fixture_Metadata()
    {
        var t = Fixture;
        Assert.Equal(4096, t.VocabSize);
        Assert.Equal(1, t.BosId);
        Assert.Equal(2, t.EosId);
        Assert.Equal(0, t.UnknownId);
        Assert.True(t.AddBos);
        Assert.False(t.AddEos);
        Assert.True(t.AddSpacePrefix);
        Assert.True(t.IsEndOfGeneration(2));
        Assert.False(t.IsEndOfGeneration(1));
    }

    [Fact]
    public void AddSpecial_PutsBosFirst()
    {
        var t = Fixture;
        var plain = t.Encode("Hello world!", addSpecial: false);
        var withBos = t.Encode("Hello world!", addSpecial: true);
        Assert.Equal([1, .. plain], withBos);
        Assert.Equal([1], t.Encode("", addSpecial: true));
        Assert.Empty(t.Encode("", addSpecial: false));
    }

    [Fact]
    public void Newline_IsByteToken_AndNextWordHasNoSpaceMarker()
    {
        var t = Fixture;
        var ids = t.Encode("Line one.\nLine two.", addSpecial: false).ToList();
        int newline = ids.IndexOf(t.Encode("\n", false)[^1]);
        Assert.Equal("<0x0A>", t.TokenText(ids[newline]));
        Assert.Equal(TokenAttributes.Byte, t.GetAttributes(ids[newline]));
        Assert.False(t.TokenText(ids[newline + 1]).StartsWith('\u2581'));
        Assert.StartsWith("\u2581", t.TokenText(ids[0]));
    }

    [Fact]
    public void UnknownCharacters_FallBackToBytes()
    {
        var t = VocabVectors.Load("llama-spm");
        var ids = t.Encode("\U0001F999", addSpecial: false); // 🦙 has no token: ▁ then its four UTF-8 bytes
        Assert.Equal(["\u2581", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"], ids.Select(t.TokenText));
        Assert.Equal([0xF0, 0x9F, 0xA6, 0x99], t.TokenBytes(ids[1]).ToArray().Concat(t.TokenBytes(ids[2]).ToArray())
            .Concat(t.TokenBytes(ids[3]).ToArray()).Concat(t.TokenBytes(ids[4]).ToArray()));
        Assert.Equal(" ", System.Text.Encoding.UTF8.GetString(t.TokenBytes(ids[0])));
    }

    [Fact]
    public void ParseSpecial_MatchesControlTokenTexts()
    {
        var t = VocabVectors.Load("llama-spm");
        var parsed = t.Encode("<s>Hello</s>", addSpecial: false, parseSpecial: true);
        Assert.Equal(1, parsed[0]);
        Assert.Equal(2, parsed[^1]);
        // After a special token SentencePiece puts its space prefix again, as llama.cpp does.
        Assert.Equal(t.Encode("Hello", false), parsed.Skip(1).Take(parsed.Count - 2));

        var literal = t.Encode("<s>Hello</s>", addSpecial: false, parseSpecial: false);
        Assert.DoesNotContain(1, literal);
        Assert.DoesNotContain(2, literal);
        Assert.Equal("<s>Hello</s>", t.Decode(literal.ToArray()));

        Assert.Equal("Hello", t.Decode(parsed.ToArray()));
        Assert.Equal("<s>Hello</s>", t.Decode(parsed.ToArray(), renderSpecial: true)); // the dummy space after BOS is dropped
    }

    [Fact]
    public void Phi3_SpecialTokens_EndGeneration_AndStripFollowingSpace()
    {
        var t = VocabVectors.Load("phi-3");
        Assert.Equal(32000, t.EosId);
        int end = t.Encode("<|end|>", false, parseSpecial: true).Single();
        Assert.Equal(32007, end);
        Assert.True(t.IsEndOfGeneration(end));
        Assert.True(t.IsEndOfGeneration(32000));
        // Phi-3's special tokens swallow whitespace to their right (llama.cpp's rstrip attribute for this model).
        Assert.Equal(t.Encode("<|user|>Hi", false, true), t.Encode("<|user|>\n  Hi", false, true));
    }

    [Fact]
    public void EncodingValidTxt_TakesMilliseconds()
    {
        string text = File.ReadAllText(TestPaths.Shared("fixtures", "valid.txt"));
        var t = Fixture;
        var ids = new List<int>();
        t.Encode(text, ids, addSpecial: true); // warm-up (JIT)
        var sw = Stopwatch.StartNew();
        ids.Clear();
        t.Encode(text, ids, addSpecial: true);
        sw.Stop();
        Assert.InRange(ids.Count, 5000, 6000); // the fixture README: ~5,500 tokens with BOS
        Assert.True(sw.ElapsedMilliseconds < 500, $"encoding {text.Length} chars took {sw.ElapsedMilliseconds} ms");
        Assert.Equal(text, t.Decode(ids.ToArray()));
    }
}

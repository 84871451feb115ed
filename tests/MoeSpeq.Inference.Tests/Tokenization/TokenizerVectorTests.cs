using MoeSpeq.Inference.Tokenization;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>Every vector of every bundled vocab must match llama.cpp's ids exactly.</summary>
public class TokenizerVectorTests
{
    public static TheoryData<string> Vocabs => ["moe-fixture", "llama-spm", "phi-3", "gpt-2"];

    /// <summary>Cases per shipped vector file, so a mis-split file cannot pass by testing nothing.</summary>
    static readonly Dictionary<string, int> CaseCounts = new()
    {
        ["moe-fixture"] = 41, ["llama-spm"] = 46, ["phi-3"] = 46, ["gpt-2"] = 46, ["llama-bpe"] = 46,
    };

    [Theory]
    [MemberData(nameof(Vocabs))]
    public void Encode_MatchesLlamaCpp(string vocab)
    {
        var tokenizer = VocabVectors.Load(vocab);
        var failures = new List<string>();
        var cases = VocabVectors.Cases(vocab);
        Assert.Equal(CaseCounts[vocab], cases.Length);
        foreach (var (text, expected) in cases)
        {
            var actual = tokenizer.Encode(text, addSpecial: false);
            if (!actual.SequenceEqual(expected))
                failures.Add($"'{Escape(text)}':\n  expected {string.Join(' ', expected)}\n  actual   {string.Join(' ', actual)}");
        }
        Assert.True(failures.Count == 0, $"{vocab}: {failures.Count}/{cases.Length} cases differ:\n" + string.Join('\n', failures));
    }

    [Fact]
    public void LlamaBpe_VectorsWithoutVocab_Skip()
    {
        Assert.True(File.Exists(VocabVectors.VocabPath("llama-bpe") + ".inp"));
        if (!File.Exists(VocabVectors.VocabPath("llama-bpe")))
            Assert.Skip("ggml-vocab-llama-bpe.gguf was not available when the vectors were made: only its .inp/.out are bundled");
        Encode_MatchesLlamaCpp("llama-bpe");
    }

    /// <summary>
    /// decode(encode(x)) == x wherever the vocab can represent x: always for byte-level BPE; for SentencePiece
    /// vocabs with byte fallback, for any text without the ▁ character itself (it decodes to a space).
    /// </summary>
    [Theory]
    [MemberData(nameof(Vocabs))]
    public void Decode_RoundTrips(string vocab)
    {
        var tokenizer = VocabVectors.Load(vocab);
        foreach (var (text, _) in VocabVectors.Cases(vocab))
        {
            if (text.Contains('\u2581')) continue;
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecial: false).ToArray()));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecial: true).ToArray()));
        }
    }

    static string Escape(string s) => s.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
}

using System.Text;
using MoeSpeq.Inference.Tokenization;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

public class StreamingDecoderTests
{
    static List<string> Stream(Tokenizer t, IEnumerable<int> ids, bool atTextStart = true)
    {
        var decoder = new StreamingDecoder(t, atTextStart);
        var pieces = ids.Select(decoder.Push).ToList();
        pieces.Add(decoder.Flush());
        return pieces;
    }

    [Fact]
    public void MultiByteCharacterSplitAcrossByteTokens_ComesOutWhole()
    {
        var t = VocabVectors.Load("llama-spm");
        var ids = t.Encode("a 🦙 b", addSpecial: true); // 🦙 is four <0xXX> tokens
        var pieces = Stream(t, ids);
        Assert.Contains("🦙", pieces); // one piece, released by the fourth byte token
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.All(pieces, p => Assert.False(p.Length > 0 && char.IsHighSurrogate(p[^1]), "a piece ends inside a surrogate pair"));
        Assert.Equal("a 🦙 b", string.Concat(pieces));
    }

    [Theory]
    [MemberData(nameof(TokenizerVectorTests.Vocabs), MemberType = typeof(TokenizerVectorTests))]
    public void ConcatenatedPieces_EqualDecode(string vocab)
    {
        var t = VocabVectors.Load(vocab);
        foreach (var (text, ids) in VocabVectors.Cases(vocab))
        {
            var pieces = Stream(t, ids);
            Assert.Equal(t.Decode(ids), string.Concat(pieces));
            // Every piece is valid UTF-16 on its own: nothing was cut inside a character.
            Assert.All(pieces, p => Assert.Equal(p, Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(p))));
        }
    }

    [Fact]
    public void ContinuingAfterPrompt_KeepsTheFirstSpace()
    {
        var t = VocabVectors.Load("moe-fixture");
        var ids = t.Encode("Paris", addSpecial: false); // ▁Paris…: a word that follows a prompt
        Assert.Equal(" Paris", string.Concat(Stream(t, ids, atTextStart: false)));
        Assert.Equal("Paris", string.Concat(Stream(t, ids, atTextStart: true)));
    }

    [Fact]
    public void IncompleteCharacterAtEnd_FlushesAsReplacement()
    {
        var t = VocabVectors.Load("llama-spm");
        var ids = t.Encode("🦙", addSpecial: false).Take(3).ToArray(); // ▁ and two of the four bytes
        var decoder = new StreamingDecoder(t);
        Assert.Equal("", string.Concat(ids.Select(decoder.Push)));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD", t.Decode(ids));
    }
}

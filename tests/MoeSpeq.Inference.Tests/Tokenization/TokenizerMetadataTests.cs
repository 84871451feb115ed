using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference.Tokenization;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>Broken tokenizer metadata must fail loudly, naming the key at fault.</summary>
public class TokenizerMetadataTests
{
    static GgufHeader Header(Dictionary<string, object> metadata)
    {
        var values = metadata.ToDictionary(kv => kv.Key, kv => kv.Value switch
        {
            string s => new GgufValue(GgufValueType.String, s),
            bool b => new GgufValue(GgufValueType.Bool, b),
            int i => new GgufValue(GgufValueType.UInt32, (uint)i),
            string[] a => new GgufValue(GgufValueType.Array, new GgufArray(GgufValueType.String, a)),
            float[] a => new GgufValue(GgufValueType.Array, new GgufArray(GgufValueType.Float32, a)),
            int[] a => new GgufValue(GgufValueType.Array, new GgufArray(GgufValueType.Int32, a)),
            _ => throw new ArgumentException(kv.Key),
        });
        return new GgufHeader
        {
            Version = 3, Metadata = values, MetadataKeys = values.Keys.ToList(), Tensors = [],
            Alignment = GgufHeader.DefaultAlignment, DataOffset = 0,
        };
    }

    static Dictionary<string, object> Spm() => new()
    {
        ["tokenizer.ggml.model"] = "llama",
        ["tokenizer.ggml.tokens"] = new[] { "<unk>", "<s>", "</s>", "▁a", "a", "▁" },
        ["tokenizer.ggml.scores"] = new[] { 0f, 0f, 0f, -1f, -2f, -3f },
        ["tokenizer.ggml.token_type"] = new[] { 2, 3, 3, 1, 1, 1 },
    };

    static Dictionary<string, object> Bpe() => new()
    {
        ["tokenizer.ggml.model"] = "gpt2",
        ["tokenizer.ggml.pre"] = "gpt-2",
        ["tokenizer.ggml.tokens"] = new[] { "a", "b", "ab", "<|endoftext|>" },
        ["tokenizer.ggml.merges"] = new[] { "a b" },
        ["tokenizer.ggml.bos_token_id"] = 3,
        ["tokenizer.ggml.eos_token_id"] = 3,
    };

    static void AssertFails(Dictionary<string, object> metadata, string key, string mention)
    {
        var e = Assert.Throws<TokenizerMetadataException>(() => Tokenizer.FromGguf(Header(metadata)));
        Assert.Equal(key, e.Key);
        Assert.Contains(key, e.Message);
        Assert.Contains(mention, e.Message);
    }

    [Fact]
    public void ValidMinimalVocabs_Load()
    {
        var spm = Tokenizer.FromGguf(Header(Spm()));
        Assert.Equal([3, 3], spm.Encode("a a", addSpecial: false));
        Assert.Equal([1, 3], spm.Encode("a", addSpecial: true));

        var bpe = Tokenizer.FromGguf(Header(Bpe()));
        Assert.Equal([2], bpe.Encode("ab", addSpecial: false));
        Assert.False(bpe.AddBos);
        Assert.True(bpe.IsEndOfGeneration(3));
    }

    [Fact]
    public void MissingModel() =>
        AssertFails(Spm().Without("tokenizer.ggml.model"), "tokenizer.ggml.model", "missing");

    [Fact]
    public void UnknownModel() =>
        AssertFails(Spm().With("tokenizer.ggml.model", "rwkv-9"), "tokenizer.ggml.model", "'rwkv-9'");

    [Fact]
    public void MissingTokens() =>
        AssertFails(Spm().Without("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens", "missing");

    [Fact]
    public void ScoresLengthMismatch() =>
        AssertFails(Spm().With("tokenizer.ggml.scores", new[] { 0f, 0f }), "tokenizer.ggml.scores", "2 entries for 6 tokens");

    [Fact]
    public void TypesLengthMismatch() =>
        AssertFails(Spm().With("tokenizer.ggml.token_type", new[] { 1, 1, 1 }), "tokenizer.ggml.token_type", "3 entries for 6 tokens");

    [Fact]
    public void SpecialIdOutOfRange() =>
        AssertFails(Spm().With("tokenizer.ggml.eos_token_id", 99), "tokenizer.ggml.eos_token_id", "99");

    [Fact]
    public void DuplicateToken() =>
        AssertFails(Spm().With("tokenizer.ggml.tokens", new[] { "<unk>", "<s>", "</s>", "▁a", "a", "a" }), "tokenizer.ggml.tokens", "duplicate");

    [Fact]
    public void UnknownPreTokenizer() =>
        AssertFails(Bpe().With("tokenizer.ggml.pre", "no-such-pre"), "tokenizer.ggml.pre", "'no-such-pre'");

    [Fact]
    public void BpeWithoutMerges() =>
        AssertFails(Bpe().Without("tokenizer.ggml.merges"), "tokenizer.ggml.merges", "missing");

    [Fact]
    public void AddBosWithoutBos() =>
        AssertFails(Spm().With("tokenizer.ggml.tokens", new[] { "<unk>", "a", "b", "c", "d", "e" })
            .With("tokenizer.ggml.bos_token_id", 99), "tokenizer.ggml.bos_token_id", "outside");
}

static class MetadataEdits
{
    public static Dictionary<string, object> With(this Dictionary<string, object> d, string key, object value)
    {
        d[key] = value;
        return d;
    }

    public static Dictionary<string, object> Without(this Dictionary<string, object> d, string key)
    {
        d.Remove(key);
        return d;
    }
}

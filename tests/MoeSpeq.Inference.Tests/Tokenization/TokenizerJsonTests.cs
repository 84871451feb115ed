using MoeSpeq.Formats.Gguf;
using MoeSpeq.Formats.HuggingFace;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>
/// tokenizer.json through the GGUF metadata a converter would write: vocabularies written as tokenizer.json and read
/// back tokenize llama.cpp's test vectors to the same ids, and shapes the engine does not implement are refused.
/// </summary>
public sealed class TokenizerJsonTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-tokenizer-json");

    public void Dispose() => _dir.Delete(recursive: true);

    static GgufHeader HeaderOf(IEnumerable<(string Key, GgufValue Value)> metadata)
    {
        var dict = metadata.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        return new GgufHeader { Version = 3, Metadata = dict, MetadataKeys = [.. dict.Keys], Tensors = [], Alignment = 32, DataOffset = 0 };
    }

    /// <summary>The GGUF vocabulary at <paramref name="path"/>, written as tokenizer.json and read back.</summary>
    (Tokenizer Original, Tokenizer RoundTrip, GgufHeader Header) RoundTrip(string path)
    {
        using var file = GgufFile.Open(path);
        string dir = Path.Combine(_dir.FullName, Path.GetFileNameWithoutExtension(path));
        Directory.CreateDirectory(dir);
        HfTokenizerWriter.Write(file.Header, dir);
        var header = HeaderOf(HfTokenizer.ToGguf(dir, config: null));
        foreach (var key in new[] { "tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id" })
            Assert.Equal(file.Header.Find(key)?.ToString(), header.Find(key)?.ToString());
        // SentencePiece files carry a pre-tokenizer name that SentencePiece ignores.
        if (file.Header.GetString("tokenizer.ggml.model") == "gpt2")
            Assert.Equal(file.Header.GetString("tokenizer.ggml.pre"), header.GetString("tokenizer.ggml.pre"));
        Assert.Equal(file.Header.GetArray("tokenizer.ggml.tokens")!.Items, header.GetArray("tokenizer.ggml.tokens")!.Items);
        Assert.Equal(file.Header.GetArray("tokenizer.ggml.token_type")!.Items, header.GetArray("tokenizer.ggml.token_type")!.Items);
        var (original, roundTrip) = (Tokenizer.FromGguf(file.Header), Tokenizer.FromGguf(header));
        Assert.Equal((original.AddBos, original.AddEos, original.AddSpacePrefix), (roundTrip.AddBos, roundTrip.AddEos, roundTrip.AddSpacePrefix));
        return (original, roundTrip, header);
    }

    // phi-3 is left out: llama.cpp recognises it by general.name, which a tokenizer.json alone does not carry.
    [Theory]
    [InlineData("moe-fixture")]
    [InlineData("llama-spm")]
    [InlineData("gpt-2")]
    public void TokenizerJsonTokenizesTheVectorsAsLlamaCpp(string vocab)
    {
        var (original, roundTrip, _) = RoundTrip(VocabVectors.VocabPath(vocab));
        foreach (var (text, expected) in VocabVectors.Cases(vocab))
        {
            Assert.Equal(expected, roundTrip.Encode(text, addSpecial: false));
            Assert.Equal(original.Encode(text, addSpecial: true), roundTrip.Encode(text, addSpecial: true));
            Assert.Equal(original.Decode(expected), roundTrip.Decode(expected));
        }
    }

    /// <summary>
    /// An independent reading of the same tokenizer.json: Microsoft.ML.Tokenizers' byte-level BPE built from its vocab
    /// and merges with the GPT-2 split, the library Hugging Face-style checkpoints are usually read with in .NET, gives
    /// the engine's ids on every plain-text test vector. (The engine keeps its own tokenizer for llama.cpp's
    /// special-token and space-prefix rules, which a second implementation would not follow.)
    /// </summary>
    [Fact]
    public void MicrosoftMlTokenizersReadsTheSameTokenizerJsonToTheSameIds()
    {
        var (_, roundTrip, _) = RoundTrip(VocabVectors.VocabPath("gpt-2"));
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_dir.FullName, "ggml-vocab-gpt-2", HfTokenizer.FileName)));
        var model = json.RootElement.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList();
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == System.Text.Json.JsonValueKind.String ? m.GetString()! : $"{m[0].GetString()} {m[1].GetString()}").ToList();
        var gpt2Split = new System.Text.RegularExpressions.Regex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");
        var library = Microsoft.ML.Tokenizers.BpeTokenizer.Create(new Microsoft.ML.Tokenizers.BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new Microsoft.ML.Tokenizers.RegexPreTokenizer(gpt2Split, specialTokens: null),
        });
        int compared = 0;
        foreach (var (text, expected) in VocabVectors.Cases("gpt-2"))
        {
            if (text.Contains("<|", StringComparison.Ordinal)) continue; // special tokens: the engine's own rules
            Assert.Equal(expected, library.EncodeToIds(text).ToArray());
            Assert.Equal(expected, roundTrip.Encode(text, addSpecial: false));
            compared++;
        }
        Assert.True(compared > 30, $"only {compared} vectors compared");
    }

    /// <summary>Every pre-tokenizer the table can write is recognised again, and the engine implements each under that name.</summary>
    [Fact]
    public void EveryKnownSplitSequenceIsIdentifiedAndImplemented()
    {
        foreach (var name in HfPreTokenizers.Names)
        {
            Assert.Equal(name, HfPreTokenizers.Identify(HfPreTokenizers.Patterns(name)!));
            Assert.NotNull(PreTokenizer.Create(name));
        }
        Assert.Contains("deepseek-llm", HfPreTokenizers.Names);
    }

    [Fact]
    public void TheDeepseekCoderVocabularyOfTheGoldenModelsRoundTrips()
    {
        var (original, roundTrip, header) = RoundTrip(TestPaths.Golden("qwen2moe.gguf"));
        Assert.Equal("deepseek-coder", header.GetString("tokenizer.ggml.pre"));
        foreach (var (text, _) in VocabVectors.Cases("gpt-2"))
            Assert.Equal(original.Encode(text, addSpecial: true), roundTrip.Encode(text, addSpecial: true));
    }

    string TokenizerFile(string json)
    {
        string dir = Path.Combine(_dir.FullName, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, HfTokenizer.FileName), json);
        return dir;
    }

    const string SpmVocab = "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"▁\":3,\"a\":4,\"b\":5,\"▁a\":6,\"ab\":7,\"▁ab\":8}";

    [Fact]
    public void AMetaspaceSentencePieceWithArrayMergesIsRead()
    {
        string dir = TokenizerFile("{\"added_tokens\":[{\"id\":1,\"content\":\"<s>\",\"special\":true}],\"normalizer\":null," +
            "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false}," +
            "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]}," +
            "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\"," + SpmVocab + ",\"merges\":[[\"▁\",\"a\"],[\"a\",\"b\"],[\"▁a\",\"b\"]]}}");
        var header = HeaderOf(HfTokenizer.ToGguf(dir, config: null));
        Assert.Equal("llama", header.GetString("tokenizer.ggml.model"));
        Assert.True(header.GetBool("tokenizer.ggml.add_bos_token"));
        Assert.True(header.GetBool("tokenizer.ggml.add_space_prefix"));
        Assert.Equal(0, header.GetInt("tokenizer.ggml.unknown_token_id"));
        var tokenizer = Tokenizer.FromGguf(header);
        Assert.Equal([1, 8, 6], tokenizer.Encode("ab a", addSpecial: true));
    }

    [Fact]
    public void TheVocabularyIsPaddedToTheEmbeddingsRows()
    {
        string dir = TokenizerFile("{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true," + SpmVocab + ",\"merges\":[]}}");
        var config = HfJsonFile.Of("config.json", System.Text.Json.JsonDocument.Parse("{\"vocab_size\":12,\"bos_token_id\":1}").RootElement);
        var header = HeaderOf(HfTokenizer.ToGguf(dir, config));
        var tokens = (string[])header.GetArray("tokenizer.ggml.tokens")!.Items;
        Assert.Equal(12, tokens.Length);
        Assert.Equal("[PAD11]", tokens[11]);
        Assert.Equal(5, ((int[])header.GetArray("tokenizer.ggml.token_type")!.Items)[11]);
        Assert.Equal(1, header.GetInt("tokenizer.ggml.bos_token_id"));
    }

    [Theory]
    [InlineData("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", "Unigram")]
    [InlineData("{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"split\":true},\"model\":{\"type\":\"BPE\",\"byte_fallback\":true," + SpmVocab + ",\"merges\":[]}}", "pre_tokenizer")]
    [InlineData("{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"BPE\",\"byte_fallback\":true," + SpmVocab + ",\"merges\":[]}}", "normalizer")]
    [InlineData("{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"},\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\",\"use_regex\":false}]},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}", "not a pre-tokenizer this engine knows")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}", "also")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", "vocab.a")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}", "merges[0]")]
    public void ShapesTheEngineDoesNotImplementAreRefused(string json, string named)
    {
        var e = Assert.Throws<HfFormatException>(() => HfTokenizer.ToGguf(TokenizerFile(json), config: null));
        Assert.Equal(HfTokenizer.FileName, e.FileName);
        Assert.Contains(named, e.Message);
    }
}

using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Inference.Tokenization;

public abstract partial class Tokenizer
{
    const string ModelKey = "tokenizer.ggml.model", PreKey = "tokenizer.ggml.pre", TokensKey = "tokenizer.ggml.tokens",
        ScoresKey = "tokenizer.ggml.scores", TypesKey = "tokenizer.ggml.token_type", MergesKey = "tokenizer.ggml.merges";

    // End-of-generation texts llama.cpp recognises (llama_vocab::impl::load), in its order of checks.
    static readonly string[] EotTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];
    static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
    static readonly string[] FimRepTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
    static readonly string[] FimSepTexts = ["<|file_sep|>"];
    static readonly HashSet<string> EogTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["];

    /// <summary>
    /// Builds the tokenizer a GGUF file describes, with llama.cpp's defaults and fix-ups (per model type: BOS/EOS/UNK
    /// ids, add_bos, add_space_prefix; end-of-generation and control tokens recognised by text; Phi-3's right-strip).
    /// Works on vocab-only files (no tensors).
    /// </summary>
    /// <exception cref="TokenizerMetadataException">
    /// A key is missing or malformed, array lengths disagree, a special id is out of range, a token repeats, or the
    /// tokenizer model / pre-tokenizer name is not one this build implements; the message names the key and value.
    /// </exception>
    public static Tokenizer FromGguf(GgufHeader header)
    {
        string model = header.GetString(ModelKey) ?? throw new TokenizerMetadataException(ModelKey, "missing (or not a string)");
        if (model is not ("llama" or "gpt2"))
            throw new TokenizerMetadataException(ModelKey, $"unsupported tokenizer model '{model}' (supported: llama, gpt2)");
        bool spm = model == "llama";

        var tokens = header.GetArray(TokensKey)?.Items as string[]
                     ?? throw new TokenizerMetadataException(TokensKey, "missing or not an array of strings");
        int n = tokens.Length;
        float[] scores = ReadScores(header, n);
        var attributes = ReadAttributes(header, n);

        var tokenToId = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            if (tokens[i].Length == 0) tokens[i] = $"[EMPTY_{i}]"; // llama.cpp's stand-in, so lookups stay unambiguous
            if (!tokenToId.TryAdd(tokens[i], i))
                throw new TokenizerMetadataException(TokensKey, $"duplicate token '{tokens[i]}' at ids {tokenToId[tokens[i]]} and {i}");
        }

        PreTokenizer? pre = null;
        Dictionary<string, int>? merges = null;
        if (!spm)
        {
            // llama.cpp warns and uses "default" when the key is absent; an unknown name is an error there and here.
            string preName = header.GetString(PreKey) ?? "default";
            pre = PreTokenizer.Create(preName) ?? throw new TokenizerMetadataException(PreKey,
                $"unsupported pre-tokenizer '{preName}' (supported: {string.Join(", ", PreTokenizer.KnownNames)})");
            merges = ReadMerges(header);
        }

        // Model-type defaults, then the metadata (llama.cpp: default ids outside the vocab are disabled).
        int Default(int id) => id < n ? id : -1;
        int bos = SpecialId(header, "tokenizer.ggml.bos_token_id", n) ?? Default(spm ? 1 : 11);
        int eos = SpecialId(header, "tokenizer.ggml.eos_token_id", n) ?? Default(spm ? 2 : 11);
        int unk = SpecialId(header, "tokenizer.ggml.unknown_token_id", n) ?? (spm ? Default(0) : -1);
        int eot = SpecialId(header, "tokenizer.ggml.eot_token_id", n) ?? -1;
        int eom = SpecialId(header, "tokenizer.ggml.eom_token_id", n) ?? -1;
        int fimPad = SpecialId(header, "tokenizer.ggml.fim_pad_token_id", n) ?? -1;
        int fimRep = SpecialId(header, "tokenizer.ggml.fim_rep_token_id", n) ?? -1;
        int fimSep = SpecialId(header, "tokenizer.ggml.fim_sep_token_id", n) ?? -1;

        bool addBos = header.GetBool("tokenizer.ggml.add_bos_token") ?? (spm || pre!.AddBosDefault);
        bool addEos = header.GetBool("tokenizer.ggml.add_eos_token") ?? false;
        bool addSpacePrefix = header.GetBool("tokenizer.ggml.add_space_prefix") ?? spm;
        if (addBos && bos < 0) throw new TokenizerMetadataException("tokenizer.ggml.add_bos_token", "is true but there is no BOS id");
        if (addEos && eos < 0) throw new TokenizerMetadataException("tokenizer.ggml.add_eos_token", "is true but there is no EOS id");

        // Tokens recognised by their text become control tokens (llama.cpp warns that the file is wrong, and fixes it).
        int Detect(int current, string[] texts)
        {
            if (current >= 0) return current;
            foreach (var text in texts)
                if (tokenToId.TryGetValue(text, out int id)) { attributes[id] |= TokenAttributes.Control; return id; }
            return -1;
        }
        eot = Detect(eot, EotTexts);
        eom = Detect(eom, ["<|eom_id|>"]);
        fimPad = Detect(fimPad, FimPadTexts);
        fimRep = Detect(fimRep, FimRepTexts);
        fimSep = Detect(fimSep, FimSepTexts);

        var eog = new HashSet<int>();
        foreach (int id in new[] { fimPad, fimRep, fimSep, eos, eot, eom })
            if (id >= 0) eog.Add(id);
        foreach (var text in EogTexts)
        {
            if (!tokenToId.TryGetValue(text, out int id)) continue;
            eog.Add(id);
            attributes[id] |= TokenAttributes.Control;
        }
        // gpt-oss (o200k_harmony) and solar-open end turns with <|return|>/<|call|>: there <|end|> is not an EOG.
        bool Has(string text) => tokenToId.TryGetValue(text, out int id) && eog.Contains(id);
        if (((Has("<|return|>") && Has("<|call|>")) || (Has("<|calls|>") && Has("<|flush|>"))) && Has("<|end|>"))
        {
            int end = tokenToId["<|end|>"];
            eog.Remove(end);
            attributes[end] = TokenAttributes.UserDefined;
        }
        if (Has("<|tool_response>") && Has("</s>"))
        {
            int s = tokenToId["</s>"];
            eog.Remove(s);
            attributes[s] = TokenAttributes.Normal;
        }
        foreach (var text in new[] { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>" }) // gpt-oss: always rendered
            if (tokenToId.TryGetValue(text, out int id)) attributes[id] = TokenAttributes.UserDefined;

        const TokenAttributes special = TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown;
        int[] specials = Enumerable.Range(0, n).Where(id => (attributes[id] & special) != 0)
            .OrderByDescending(id => tokens[id].Length).ThenBy(id => id).ToArray();

        // Phi-3 files (by general.name) swallow whitespace right of their special tokens, except <unk>, <s>, <|endoftext|>.
        string name = (header.GetString("general.name") ?? "").ToLowerInvariant();
        if (name.Contains("phi-3", StringComparison.Ordinal) || name.Contains("phi3", StringComparison.Ordinal))
        {
            foreach (int id in specials) attributes[id] |= TokenAttributes.RStrip;
            if (tokenToId.TryGetValue("</s>", out int eosText)) attributes[eosText] |= TokenAttributes.RStrip;
            foreach (var text in new[] { "<unk>", "<s>", "<|endoftext|>" })
                if (tokenToId.TryGetValue(text, out int id)) attributes[id] &= ~TokenAttributes.RStrip;
        }

        var vocab = new Vocabulary
        {
            Tokens = tokens, Scores = scores, Attributes = attributes, TokenToId = tokenToId,
            BosId = bos, EosId = eos, UnknownId = unk, AddBos = addBos, AddEos = addEos, AddSpacePrefix = addSpacePrefix,
            EndOfGenerationIds = eog, SpecialTokensByLength = specials,
        };
        return spm ? new SpmTokenizer(vocab) : new BpeTokenizer(vocab, pre!, merges!);
    }

    static float[] ReadScores(GgufHeader header, int n)
    {
        var array = header.GetArray(ScoresKey);
        float[] scores = array?.Items switch
        {
            null => new float[n], // llama.cpp scores every token 0 when the key is absent
            float[] f => f,
            int[] i => Array.ConvertAll(i, x => (float)x),
            _ => throw new TokenizerMetadataException(ScoresKey, $"must be an array of float32 or int32, not {array.ElementType}"),
        };
        if (scores.Length != n) throw new TokenizerMetadataException(ScoresKey, $"has {scores.Length} entries for {n} tokens");
        return scores;
    }

    static TokenAttributes[] ReadAttributes(GgufHeader header, int n)
    {
        var array = header.GetArray(TypesKey);
        if (array is null) return Enumerable.Repeat(TokenAttributes.Normal, n).ToArray();
        if (array.Items is not int[] types)
            throw new TokenizerMetadataException(TypesKey, $"must be an array of int32, not {array.ElementType}");
        if (types.Length != n) throw new TokenizerMetadataException(TypesKey, $"has {types.Length} entries for {n} tokens");
        return Array.ConvertAll(types, GgufTokenType.ToAttributes);
    }

    static Dictionary<string, int> ReadMerges(GgufHeader header)
    {
        var lines = header.GetArray(MergesKey)?.Items as string[]
                    ?? throw new TokenizerMetadataException(MergesKey, "missing or not an array of strings (a gpt2 tokenizer needs its merges)");
        var ranks = new Dictionary<string, int>(lines.Length, StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            // llama.cpp splits at the first space after the first character; a line without one merges nothing.
            if (lines[i].IndexOf(' ', 1) > 0) ranks.TryAdd(lines[i], i); // the first rank of a repeated merge wins
        }
        return ranks;
    }

    static int? SpecialId(GgufHeader header, string key, int n)
    {
        if (header.Find(key) is null) return null;
        long id = header.GetInt(key) ?? throw new TokenizerMetadataException(key, "is not an integer");
        if (id < 0 || id >= n) throw new TokenizerMetadataException(key, $"id {id} is outside the vocabulary (0..{n - 1})");
        return (int)id;
    }
}

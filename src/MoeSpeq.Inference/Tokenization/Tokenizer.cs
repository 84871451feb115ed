using System.Buffers;
using System.Text;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// Text ↔ token ids, reproducing llama.cpp's <c>llama_tokenize</c> / <c>llama_token_to_piece</c> for the vocab
/// kinds a GGUF declares (<c>tokenizer.ggml.model</c>): <c>llama</c> (SentencePiece BPE, <see cref="SpmTokenizer"/>)
/// and <c>gpt2</c> (byte-level BPE, <see cref="BpeTokenizer"/>).
/// </summary>
/// <remarks>
/// Encoding is llama.cpp's pipeline: special-token texts are split out of the raw text first
/// (<see cref="SpecialTokenPartition"/>), then each remaining text fragment goes through the model's own algorithm,
/// and BOS/EOS are added around the result when asked for. Instances are immutable and safe to share between threads.
/// </remarks>
public abstract partial class Tokenizer
{
    private protected readonly Vocabulary Vocab;
    readonly byte[][] _pieces;

    private protected Tokenizer(Vocabulary vocab)
    {
        Vocab = vocab;
        _pieces = new byte[vocab.Tokens.Length][];
        for (int id = 0; id < _pieces.Length; id++) _pieces[id] = RenderPiece(id);
    }

    public int VocabSize => Vocab.Tokens.Length;

    /// <summary>Beginning-of-sequence id, or -1 when the vocab has none.</summary>
    public int BosId => Vocab.BosId;

    /// <summary>End-of-sequence id, or -1 when the vocab has none.</summary>
    public int EosId => Vocab.EosId;

    /// <summary>The id emitted for text no token covers, or -1.</summary>
    public int UnknownId => Vocab.UnknownId;

    /// <summary>Whether <c>Encode(…, addSpecial: true)</c> starts with BOS (<c>tokenizer.ggml.add_bos_token</c>, else the model type's default).</summary>
    public bool AddBos => Vocab.AddBos;

    /// <summary>Whether <c>Encode(…, addSpecial: true)</c> ends with EOS (<c>tokenizer.ggml.add_eos_token</c>, else false).</summary>
    public bool AddEos => Vocab.AddEos;

    /// <summary>SentencePiece's dummy prefix: a space is put before the text (and after each special token) when encoding.</summary>
    public bool AddSpacePrefix => Vocab.AddSpacePrefix;

    /// <summary>Every id that ends generation: EOS, EOT, EOM and the end-like tokens llama.cpp recognises by text.</summary>
    public IReadOnlySet<int> EndOfGenerationIds => Vocab.EndOfGenerationIds;

    public bool IsEndOfGeneration(int id) => Vocab.EndOfGenerationIds.Contains(id);

    /// <summary>The token's string as stored in the vocabulary (with ▁ or GPT-2 byte characters, not decoded).</summary>
    public string TokenText(int id) => Vocab.Tokens[id];

    public TokenAttributes GetAttributes(int id) => Vocab.Attributes[id];

    /// <summary>
    /// The raw bytes the token contributes to output text: SentencePiece ▁ turned back into spaces, GPT-2 byte
    /// characters and <c>&lt;0xXX&gt;</c> byte tokens turned back into bytes. Control and unknown tokens contribute
    /// nothing unless <paramref name="renderSpecial"/> (then their text), as in llama.cpp's <c>token_to_piece</c>.
    /// A piece may hold part of a multi-byte character; <see cref="StreamingDecoder"/> reassembles those.
    /// </summary>
    public ReadOnlySpan<byte> TokenBytes(int id, bool renderSpecial = false)
    {
        if (!renderSpecial && (Vocab.Attributes[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
            return default;
        return _pieces[id];
    }

    /// <summary>Tokenizes <paramref name="text"/> (see the overload writing into a list).</summary>
    public IReadOnlyList<int> Encode(string text, bool addSpecial, bool parseSpecial = false)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        Encode(text, ids, addSpecial, parseSpecial);
        return ids;
    }

    /// <summary>
    /// Appends the ids of <paramref name="text"/> to <paramref name="output"/>, as <c>llama_tokenize</c> does.
    /// <paramref name="addSpecial"/>: add BOS / EOS where <see cref="AddBos"/> / <see cref="AddEos"/> say so.
    /// <paramref name="parseSpecial"/>: texts of control tokens (e.g. <c>&lt;s&gt;</c>) become their ids; when false
    /// they are tokenized as plain text. User-defined tokens are always matched whole, as llama.cpp does.
    /// </summary>
    public void Encode(ReadOnlySpan<char> text, List<int> output, bool addSpecial, bool parseSpecial = false)
    {
        if (addSpecial && Vocab.AddBos) output.Add(Vocab.BosId);

        bool afterSpecial = true; // the text start counts as "after a special token" for SentencePiece's space prefix
        foreach (var fragment in SpecialTokenPartition.Split(Vocab, text, parseSpecial))
        {
            if (fragment.IsToken)
            {
                output.Add(fragment.Token);
                afterSpecial = true;
            }
            else
            {
                EncodeFragment(text.Slice(fragment.Offset, fragment.Length), afterSpecial, output);
                afterSpecial = false;
            }
        }

        if (addSpecial && Vocab.AddEos) output.Add(Vocab.EosId);
    }

    /// <summary>Tokenizes one stretch of raw text that holds no special token.</summary>
    /// <param name="afterSpecial">The stretch starts the text or follows a special token (SentencePiece then adds its space prefix).</param>
    private protected abstract void EncodeFragment(ReadOnlySpan<char> text, bool afterSpecial, List<int> output);

    /// <summary>
    /// The text of a whole token sequence: the pieces' bytes (<see cref="TokenBytes"/>) joined and read as UTF-8
    /// (invalid bytes become U+FFFD). When <see cref="AddSpacePrefix"/>, the space SentencePiece put before the
    /// text is removed from the first token after an optional leading BOS, so <c>Decode(Encode(x, true)) == x</c>.
    /// </summary>
    /// <remarks>
    /// llama.cpp's <c>llama_detokenize</c> strips that space only when the sequence does not start with BOS, and for
    /// most BPE vocabs also applies <c>clean_up_tokenization_spaces</c> (" ," → ","). We do neither, so that Decode
    /// round-trips and equals the concatenation of <see cref="StreamingDecoder"/> output.
    /// </remarks>
    public string Decode(ReadOnlySpan<int> ids, bool renderSpecial = false)
    {
        var bytes = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        bool first = true;
        foreach (int id in ids)
        {
            var piece = FirstPieceTrim(id, ref first, renderSpecial);
            piece.CopyTo(bytes.GetSpan(piece.Length));
            bytes.Advance(piece.Length);
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan);
    }

    /// <summary>
    /// The piece of <paramref name="id"/> with the leading-space rule of <see cref="Decode"/> applied while
    /// <paramref name="atStart"/> (cleared once the first token after an optional BOS has been seen).
    /// </summary>
    internal ReadOnlySpan<byte> FirstPieceTrim(int id, ref bool atStart, bool renderSpecial)
    {
        var piece = TokenBytes(id, renderSpecial);
        if (!atStart) return piece;
        if (id == Vocab.BosId) return piece; // BOS keeps the start open: the dummy space sits on the next token
        atStart = false;
        return Vocab.AddSpacePrefix && piece.Length > 0 && piece[0] == (byte)' ' ? piece[1..] : piece;
    }

    /// <summary>The bytes of a token with every attribute rendered (llama.cpp's piece cache, built with special = true).</summary>
    byte[] RenderPiece(int id)
    {
        var attr = Vocab.Attributes[id];
        string text = Vocab.Tokens[id];
        const TokenAttributes verbatim = TokenAttributes.Unknown | TokenAttributes.Control
                                         | TokenAttributes.UserDefined;
        if ((attr & verbatim) != 0) return Encoding.UTF8.GetBytes(text);
        if ((attr & TokenAttributes.Normal) != 0) return NormalPieceBytes(text);
        if ((attr & TokenAttributes.Byte) != 0 && text.Length >= 5 && text.StartsWith("<0x", StringComparison.Ordinal))
            return [Convert.ToByte(text.Substring(3, 2), 16)];
        return []; // unused and undefined tokens render as nothing, like llama.cpp
    }

    /// <summary>The output bytes of a normal token's vocabulary string.</summary>
    private protected abstract byte[] NormalPieceBytes(string text);
}

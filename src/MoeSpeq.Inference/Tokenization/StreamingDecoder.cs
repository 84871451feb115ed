using System.Text;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// Turns generated ids into text one id at a time. A token may end inside a multi-byte UTF-8 character (byte
/// fallback tokens, GPT-2 byte tokens); those bytes are held back until the character completes, so every returned
/// string is whole text, and the pieces joined equal <see cref="Tokenizer.Decode"/> of all the ids.
/// </summary>
/// <remarks>
/// <paramref name="atTextStart"/>: the ids start the text (a prompt being echoed, or generation with no prompt), so
/// SentencePiece's dummy space before the first token is dropped as <see cref="Tokenizer.Decode"/> does. Pass false
/// to continue after a prompt: the first generated word then keeps its space ("▁Paris" → " Paris").
/// </remarks>
public sealed class StreamingDecoder(Tokenizer tokenizer, bool atTextStart = true, bool renderSpecial = false)
{
    readonly Decoder _utf8 = Encoding.UTF8.GetDecoder();
    bool _atStart = atTextStart;
    char[] _chars = new char[64];

    /// <summary>The text completed by <paramref name="id"/> (empty while a character is still incomplete).</summary>
    public string Push(int id)
    {
        var bytes = tokenizer.FirstPieceTrim(id, ref _atStart, renderSpecial);
        return Convert(bytes, flush: false);
    }

    /// <summary>Ends the stream: bytes of a character that never completed come out as U+FFFD.</summary>
    public string Flush() => Convert([], flush: true);

    string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _utf8.GetCharCount(bytes, flush);
        if (needed > _chars.Length) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }
}

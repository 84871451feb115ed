using System.Buffers;
using System.Text;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// SentencePiece BPE as llama.cpp's <c>llm_tokenizer_spm</c> runs it (<c>tokenizer.ggml.model = "llama"</c>):
/// spaces become ▁ (with a ▁ prefix at the text start and after special tokens when
/// <see cref="Tokenizer.AddSpacePrefix"/>), the text is cut into characters, and the adjacent pair whose
/// concatenation is the highest-scoring vocabulary token is merged, repeatedly, until no pair forms a token.
/// Characters left without a token are emitted as their UTF-8 bytes' <c>&lt;0xXX&gt;</c> tokens.
/// </summary>
/// <remarks>
/// Written here rather than on Microsoft.ML.Tokenizers' SentencePieceTokenizer: that one is built from a
/// SentencePiece protobuf model, not from a GGUF token table, and does not follow llama.cpp's special-token
/// fragments and space-prefix rule.
/// </remarks>
sealed class SpmTokenizer : Tokenizer
{
    const char SpaceMarker = '\u2581'; // ▁

    /// <summary>The <c>&lt;0xXX&gt;</c> token of each byte (or the one-character token of an ASCII byte), -1 if none.</summary>
    readonly int[] _byteTokens = new int[256];

    internal SpmTokenizer(Vocabulary vocab) : base(vocab)
    {
        for (int b = 0; b < 256; b++)
        {
            int id = vocab.Find($"<0x{b:X2}>");
            if (id < 0 && b < 0x80) id = vocab.Find([(char)b]); // llama.cpp's byte_to_token fallback
            _byteTokens[b] = id;
        }
    }

    private protected override byte[] NormalPieceBytes(string text) => Encoding.UTF8.GetBytes(text.Replace(SpaceMarker, ' '));

    private protected override void EncodeFragment(ReadOnlySpan<char> text, bool afterSpecial, List<int> output)
    {
        bool prefix = Vocab.AddSpacePrefix && afterSpecial;
        int length = text.Length + (prefix ? 1 : 0);
        char[] rented = ArrayPool<char>.Shared.Rent(length);
        try
        {
            var escaped = rented.AsSpan(0, length);
            if (prefix) escaped[0] = SpaceMarker;
            text.Replace(escaped[(prefix ? 1 : 0)..], ' ', SpaceMarker);
            Merge(escaped, output);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
        }
    }

    /// <summary>One symbol of the merge: a run of text, linked to its live neighbours.</summary>
    struct Symbol
    {
        public int Start, Length, Prev, Next;
    }

    /// <summary>Best score first; among equal scores the leftmost pair (llama.cpp's <c>llm_bigram_spm::comparator</c>).</summary>
    sealed class BigramOrder : IComparer<(float Score, int Left)>
    {
        public static readonly BigramOrder Instance = new();
        public int Compare((float Score, int Left) a, (float Score, int Left) b) =>
            a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left);
    }

    void Merge(ReadOnlySpan<char> text, List<int> output)
    {
        if (text.IsEmpty) return;

        // One symbol per code point (a surrogate pair stays together, as a UTF-8 character does in llama.cpp).
        var symbols = new Symbol[text.Length];
        int count = 0;
        for (int offs = 0; offs < text.Length;)
        {
            int len = char.IsHighSurrogate(text[offs]) && offs + 1 < text.Length && char.IsLowSurrogate(text[offs + 1]) ? 2 : 1;
            symbols[count] = new Symbol { Start = offs, Length = len, Prev = count - 1, Next = offs + len == text.Length ? -1 : count + 1 };
            offs += len;
            count++;
        }

        // Element: (left, right, combined length when queued) — a changed length marks the pair as stale.
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(count, BigramOrder.Instance);
        for (int i = 1; i < count; i++) TryAddBigram(text, symbols, queue, i - 1, i);

        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var left = ref symbols[bigram.Left];
            ref var right = ref symbols[bigram.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;

            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0) symbols[right.Next].Prev = bigram.Left;

            TryAddBigram(text, symbols, queue, left.Prev, bigram.Left);
            TryAddBigram(text, symbols, queue, bigram.Left, left.Next);
        }

        for (int i = 0; i != -1; i = symbols[i].Next)
        {
            var piece = text.Slice(symbols[i].Start, symbols[i].Length);
            int id = Vocab.Find(piece);
            if (id >= 0) { output.Add(id); continue; }
            // Only single characters can lack a token (merges only ever form tokens), so llama.cpp's rev_merge
            // re-segmentation never applies: the character goes out as bytes.
            EmitBytes(piece, output);
        }
    }

    void TryAddBigram(ReadOnlySpan<char> text, Symbol[] symbols, PriorityQueue<(int, int, int), (float, int)> queue, int left, int right)
    {
        if (left == -1 || right == -1) return;
        int size = symbols[left].Length + symbols[right].Length;
        int id = Vocab.Find(text.Slice(symbols[left].Start, size)); // the right symbol always follows the left in the text
        if (id < 0) return;
        queue.Enqueue((left, right, size), (Vocab.Scores[id], left));
    }

    void EmitBytes(ReadOnlySpan<char> piece, List<int> output)
    {
        Span<byte> utf8 = stackalloc byte[8];
        int n = Encoding.UTF8.GetBytes(piece, utf8);
        for (int j = 0; j < n; j++)
        {
            int id = _byteTokens[utf8[j]];
            // llama.cpp aborts on a byte without a token; a vocab without byte fallback gets the unknown token instead.
            if (id >= 0) output.Add(id);
            else if (Vocab.UnknownId >= 0) { output.Add(Vocab.UnknownId); return; }
        }
    }
}

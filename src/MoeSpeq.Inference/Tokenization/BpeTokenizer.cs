using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// Byte-level BPE as llama.cpp's <c>llm_tokenizer_bpe</c> runs it (<c>tokenizer.ggml.model = "gpt2"</c>): the
/// <see cref="PreTokenizer"/> cuts the text into words, each word's UTF-8 bytes are written as GPT-2 byte
/// characters (<see cref="ByteUnicode"/>), and within a word the adjacent pair with the lowest merge rank
/// (<c>tokenizer.ggml.merges</c>) is merged, repeatedly, leftmost first among equal ranks.
/// </summary>
/// <remarks>
/// Written here rather than on Microsoft.ML.Tokenizers' BpeTokenizer/CodeGenTokenizer: those take one pre-tokenizer
/// regex, while llama.cpp chains several per pre-type (each re-splitting the last one's words) and runs them on its
/// category-collapsed text; they also lack llama.cpp's special-token fragments and its ignore-merges rule.
/// Words repeat a lot in real text, so finished words are cached.
/// </remarks>
sealed class BpeTokenizer : Tokenizer
{
    const int CacheLimit = 1 << 16;

    readonly PreTokenizer _pre;
    /// <summary>Merge rank by merge line, "left right" (tokens of a byte-level vocab never hold a space).</summary>
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _ranks;
    readonly ConcurrentDictionary<string, int[]> _wordCache = new(StringComparer.Ordinal);

    internal BpeTokenizer(Vocabulary vocab, PreTokenizer pre, Dictionary<string, int> mergeRanks) : base(vocab)
    {
        _pre = pre;
        _ranks = mergeRanks.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string PreTokenizerName => _pre.Name;

    private protected override byte[] NormalPieceBytes(string text)
    {
        var bytes = new byte[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            if (!ByteUnicode.TryDecode(text[i], out bytes[i]))
                return UnknownBytePiece(text);
        }
        return bytes;
    }

    /// <summary>llama.cpp's <c>llama_decode_text</c> for a token holding a character outside the byte table.</summary>
    static byte[] UnknownBytePiece(string text)
    {
        var bytes = new List<byte>();
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.IsBmp && ByteUnicode.TryDecode((char)rune.Value, out byte b)) { bytes.Add(b); continue; }
            int n = rune.EncodeToUtf8(utf8);
            var marker = new StringBuilder("[UNK_BYTE_0x");
            foreach (byte x in utf8[..n]) marker.Append(x.ToString("x2", CultureInfo.InvariantCulture));
            bytes.AddRange(Encoding.UTF8.GetBytes(marker.Append(text).Append(']').ToString()));
        }
        return bytes.ToArray();
    }

    private protected override void EncodeFragment(ReadOnlySpan<char> text, bool afterSpecial, List<int> output)
    {
        int[] cpts = CodepointInfo.FromString(text);
        int start = 0;
        Span<byte> utf8 = stackalloc byte[4];
        var word = new StringBuilder();
        foreach (int length in _pre.Split(cpts))
        {
            word.Clear();
            for (int i = start; i < start + length; i++)
            {
                int n = new Rune(cpts[i]).EncodeToUtf8(utf8);
                for (int j = 0; j < n; j++) word.Append(ByteUnicode.Encode(utf8[j]));
            }
            start += length;
            if (word.Length == 0) continue;
            output.AddRange(EncodeWord(word.ToString()));
        }
    }

    int[] EncodeWord(string word)
    {
        if (_wordCache.TryGetValue(word, out var cached)) return cached;
        var ids = new List<int>();
        int whole = _pre.IgnoreMerges ? Vocab.Find(word) : -1;
        if (whole >= 0) ids.Add(whole);
        else Merge(word, ids);
        var result = ids.ToArray();
        if (_wordCache.Count >= CacheLimit) _wordCache.Clear();
        _wordCache.TryAdd(word, result);
        return result;
    }

    void Merge(string word, List<int> output)
    {
        // One symbol per character: every GPT-2 byte character is a single UTF-16 unit.
        int count = word.Length;
        var start = new int[count];
        var length = new int[count];
        var prev = new int[count];
        var next = new int[count];
        for (int i = 0; i < count; i++) { start[i] = i; length[i] = 1; prev[i] = i - 1; next[i] = i + 1 < count ? i + 1 : -1; }

        // Element: (left, right, their lengths when queued) — changed lengths mark a stale pair.
        var queue = new PriorityQueue<(int Left, int Right, int LeftLength, int RightLength), (int Rank, int Left)>();
        char[] keyBuffer = ArrayPool<char>.Shared.Rent(word.Length + 1);
        try
        {
            void TryAdd(int left, int right)
            {
                if (left == -1 || right == -1) return;
                int rank = FindRank(word.AsSpan(start[left], length[left]), word.AsSpan(start[right], length[right]), keyBuffer);
                if (rank >= 0) queue.Enqueue((left, right, length[left], length[right]), (rank, left));
            }

            for (int i = 1; i < count; i++) TryAdd(i - 1, i);

            while (queue.TryDequeue(out var bigram, out _))
            {
                int l = bigram.Left, r = bigram.Right;
                if (length[l] == 0 || length[r] == 0 || length[l] != bigram.LeftLength || length[r] != bigram.RightLength) continue;
                length[l] += length[r];
                length[r] = 0;
                next[l] = next[r];
                if (next[r] >= 0) prev[next[r]] = l;
                TryAdd(prev[l], l);
                TryAdd(l, next[l]);
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(keyBuffer);
        }

        for (int i = 0; i != -1; i = next[i])
        {
            var piece = word.AsSpan(start[i], length[i]);
            int id = Vocab.Find(piece);
            if (id >= 0) { output.Add(id); continue; }
            // llama.cpp's fallback looks each UTF-8 byte of the symbol up as a one-byte token: only ASCII can hit.
            foreach (char c in piece)
            {
                int single = c < 0x80 ? Vocab.Find([c]) : -1;
                if (single >= 0) output.Add(single);
            }
        }
    }

    int FindRank(ReadOnlySpan<char> left, ReadOnlySpan<char> right, char[] buffer)
    {
        int n = left.Length + 1 + right.Length;
        left.CopyTo(buffer);
        buffer[left.Length] = ' ';
        right.CopyTo(buffer.AsSpan(left.Length + 1));
        return _ranks.TryGetValue(buffer.AsSpan(0, n), out int rank) ? rank : -1;
    }
}

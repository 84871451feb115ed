namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// The token table and special ids a tokenizer is built from, already validated and with llama.cpp's
/// per-model defaults and name-based fix-ups applied (see <see cref="Tokenizer.FromGguf"/>).
/// </summary>
sealed class Vocabulary
{
    public required string[] Tokens { get; init; }
    public required float[] Scores { get; init; }
    public required TokenAttributes[] Attributes { get; init; }
    public required Dictionary<string, int> TokenToId { get; init; }
    public required int BosId { get; init; }
    public required int EosId { get; init; }
    public required int UnknownId { get; init; }
    public required bool AddBos { get; init; }
    public required bool AddEos { get; init; }
    public required bool AddSpacePrefix { get; init; }
    public required IReadOnlySet<int> EndOfGenerationIds { get; init; }

    /// <summary>Control, user-defined and unknown tokens, longest text first: the order llama.cpp splits them out of raw text.</summary>
    public required int[] SpecialTokensByLength { get; init; }

    Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>>? _spanLookup;

    /// <summary>The id whose text is exactly <paramref name="text"/>, or -1; allocation-free.</summary>
    public int Find(ReadOnlySpan<char> text)
    {
        _spanLookup ??= TokenToId.GetAlternateLookup<ReadOnlySpan<char>>();
        return _spanLookup.Value.TryGetValue(text, out int id) ? id : -1;
    }
}

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// A GGUF file that cannot be used: wrong magic or version, truncated, inconsistent or absurd. The message names
/// the offending field and the byte offset where it was read, so a user can tell a bad download from a bad writer.
/// </summary>
public sealed class GgufFormatException : FormatException
{
    /// <summary>Field names can carry metadata keys of up to 64 KiB from the file; messages quote at most this much.</summary>
    const int MaxQuotedField = 200;

    public GgufFormatException(string field, long offset, string problem)
        : base($"invalid GGUF: {Quote(field)} at byte {offset}: {problem}")
    {
        Field = field;
        Offset = offset;
    }

    /// <summary>The header field, metadata key or tensor name that is wrong.</summary>
    public string Field { get; }

    /// <summary>Byte offset in the file where the offending value starts.</summary>
    public long Offset { get; }

    static string Quote(string field) => field.Length <= MaxQuotedField ? field : field[..MaxQuotedField] + "…";
}

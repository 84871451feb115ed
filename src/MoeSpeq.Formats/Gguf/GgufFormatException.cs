namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// A GGUF file that cannot be used: wrong magic or version, truncated, inconsistent or absurd. The message names
/// the offending field and the byte offset where it was read, so a user can tell a bad download from a bad writer.
/// </summary>
public sealed class GgufFormatException : FormatException
{
    public GgufFormatException(string field, long offset, string problem)
        : base($"invalid GGUF: {field} at byte {offset}: {problem}")
    {
        Field = field;
        Offset = offset;
    }

    /// <summary>The header field, metadata key or tensor name that is wrong.</summary>
    public string Field { get; }

    /// <summary>Byte offset in the file where the offending value starts.</summary>
    public long Offset { get; }
}

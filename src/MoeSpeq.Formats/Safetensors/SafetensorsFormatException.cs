namespace MoeSpeq.Formats.Safetensors;

/// <summary>
/// A safetensors file that cannot be used: truncated, an absurd header length, a header that is not the JSON the
/// format prescribes, tensors whose byte ranges overlap, leave holes, run past the data or disagree with their shape
/// and dtype, or a dtype this engine cannot compute with. The message names the offending field (a tensor name, with
/// the key inside its entry) and the byte offset in the file where it was read, and the file when it is known.
/// </summary>
public sealed class SafetensorsFormatException : FormatException
{
    /// <summary>Field names can carry tensor names from the file; messages quote at most this much.</summary>
    const int MaxQuotedField = 200;

    public SafetensorsFormatException(string field, long offset, string problem, string? path = null)
        : base($"invalid safetensors{(path is null ? "" : $" file {path}")}: {Quote(field)} at byte {offset}: {problem}")
    {
        Field = field;
        Offset = offset;
        Problem = problem;
        FilePath = path;
    }

    /// <summary>The header field or tensor (with its key) that is wrong.</summary>
    public string Field { get; }

    /// <summary>Byte offset in the file where the offending value starts.</summary>
    public long Offset { get; }

    public string Problem { get; }

    /// <summary>The file, when the error was raised opening one.</summary>
    public string? FilePath { get; }

    /// <summary>The same error, naming the file it was found in.</summary>
    public SafetensorsFormatException InFile(string path) => new(Field, Offset, Problem, path);

    static string Quote(string field) => field.Length <= MaxQuotedField ? field : field[..MaxQuotedField] + "…";
}

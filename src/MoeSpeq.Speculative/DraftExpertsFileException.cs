using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Speculative;

/// <summary>
/// A draft-experts file (<c>moespeq make-draft</c>) that cannot serve the target it is loaded with: unreadable as
/// GGUF (truncated, corrupt), not a draft-experts file, made from another model, or holding a tensor that is missing,
/// of the wrong shape or of a type the kernels cannot multiply. The message names the file and the field.
/// </summary>
public sealed class DraftExpertsFileException : FormatException
{
    DraftExpertsFileException(string path, string field, string message, Exception? inner)
        : base(message, inner)
    {
        Path = path;
        Field = field;
    }

    /// <summary>The draft-experts file as it was given.</summary>
    public string Path { get; }

    /// <summary>The metadata key, tensor name or GGUF field that is wrong.</summary>
    public string Field { get; }

    internal static DraftExpertsFileException Mismatch(string path, string field, string problem) =>
        new(path, field, $"draft experts {path}: {field}: {problem}", null);

    internal static DraftExpertsFileException Unreadable(string path, GgufFormatException e) =>
        new(path, e.Field, $"draft experts {path}: {e.Message}", e);
}

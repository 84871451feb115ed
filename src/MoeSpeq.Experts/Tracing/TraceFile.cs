namespace MoeSpeq.Experts.Tracing;

/// <summary>Opening trace files: both kinds read from a stream and name the file in their format errors.</summary>
internal static class TraceFile
{
    /// <summary>Reads <paramref name="path"/> with <paramref name="load"/>; an <see cref="InvalidDataException"/> gains the path.</summary>
    public static T Load<T>(string path, Func<Stream, T> load)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            return load(stream);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}

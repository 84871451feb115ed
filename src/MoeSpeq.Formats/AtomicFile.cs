namespace MoeSpeq.Formats;

/// <summary>
/// Writes a file beside its destination and moves it into place only once complete, so a failed or cancelled write
/// (a full disk, a bad tensor callback) never leaves a truncated model where a good one, or none, was.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string temp = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                write(stream);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}

namespace MoeSpeq.Cli;

/// <summary>The model bundled under models/ that commands use when no -m is given.</summary>
public static class DemoModel
{
    public const string FileName = "moe-demo-q8_0.gguf";

    public static string Path
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = System.IO.Path.Combine(dir.FullName, "models", FileName);
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException($"the bundled demo model models/{FileName} was not found; pass -m MODEL.gguf");
        }
    }
}

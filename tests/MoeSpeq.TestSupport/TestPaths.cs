using Xunit;

namespace MoeSpeq.TestSupport;

/// <summary>
/// Where test inputs live. The repository carries a small subset under tests/data so every clone can run the
/// suite; the full reference set sits in ../shared beside the checkout when it exists, and tests that need it
/// skip with a message that says so when it does not.
/// </summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string TestData => Path.Combine(RepoRoot, "tests", "data");

    public static string? SharedDir
    {
        get
        {
            var dir = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(dir) ? dir : null;
        }
    }

    /// <summary>A path under ../shared, or skips the calling test with a visible reason.</summary>
    public static string Shared(params string[] parts)
    {
        if (SharedDir is not { } shared)
        {
            Assert.Skip("../shared (the full reference set) is not beside this checkout; only the bundled subset in tests/data was tested");
            throw new InvalidOperationException("unreachable");
        }
        var path = Path.Combine([shared, .. parts]);
        if (!File.Exists(path) && !Directory.Exists(path)) Assert.Skip($"{path} is absent from ../shared");
        return path;
    }

    /// <summary>
    /// A golden reference file: from ../shared/golden when present, else from the subset bundled in tests/data/golden,
    /// else the test skips visibly.
    /// </summary>
    public static string Golden(string fileName)
    {
        if (SharedDir is { } shared && File.Exists(Path.Combine(shared, "golden", fileName))) return Path.Combine(shared, "golden", fileName);
        var bundled = Data("golden", fileName);
        if (File.Exists(bundled)) return bundled;
        Assert.Skip($"golden/{fileName} is neither in ../shared (absent) nor in the bundled subset tests/data/golden");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>A file bundled with the repository's tests.</summary>
    public static string Data(params string[] parts) => Path.Combine([TestData, .. parts]);

    /// <summary>The bundled demo model.</summary>
    public static string DemoModel => Path.Combine(RepoRoot, "models", "moe-demo-q8_0.gguf");

    static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
    }
}

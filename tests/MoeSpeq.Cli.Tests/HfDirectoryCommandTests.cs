using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Cli.Tests;

/// <summary>
/// A Hugging Face directory made by <c>export-hf</c> from the bundled golden model is a model like any other for the
/// commands: it runs, tokenizes as the GGUF file, inspects, and serves its experts from the shards on disk.
/// </summary>
public sealed class HfDirectoryCommandTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-cli-hf");
    readonly string _gguf = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
    readonly string _model;

    public HfDirectoryCommandTests()
    {
        _model = Path.Combine(_dir.FullName, "mixtral-hf");
        var export = CliRunner.Run("export-hf", _gguf, _model, "--shard-size", "2MiB", "--type", "bf16");
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.Contains("shards", export.Stderr);
    }

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void RunGeneratesFromTheDirectoryAndTheDiskTierReadsItsShards()
    {
        var run = CliRunner.Run("run", "-m", _model, "-p", "hello", "-n", "8", "--temp", "0");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.StartsWith("hello", run.Stdout);
        Assert.True(run.Stdout.Length > "hello".Length, "no text was generated");
        Assert.Contains("decode: 8 tokens", run.Stderr);

        var offloaded = CliRunner.Run("run", "-m", _model, "-p", "hello", "-n", "8", "--temp", "0", "--slow-tier", "disk", "--expert-cache", "25%");
        Assert.True(offloaded.ExitCode == 0, offloaded.Stderr);
        Assert.Equal(run.Stdout, offloaded.Stdout);
        Assert.Contains("files in mixtral-hf", offloaded.Stderr);
    }

    [Fact]
    public void TokenizeAndInspectReadTheDirectory()
    {
        const string text = "Hello world, it's 2024! <s> 한국어";
        var fromDir = CliRunner.Run("tokenize", "-m", _model, "--text", text, "--add-special");
        var fromGguf = CliRunner.Run("tokenize", "-m", _gguf, "--text", text, "--add-special");
        Assert.True(fromDir.ExitCode == 0, fromDir.Stderr);
        Assert.Equal(fromGguf.Stdout, fromDir.Stdout);

        var inspect = CliRunner.Run("inspect", "-m", _model);
        Assert.True(inspect.ExitCode == 0, inspect.Stderr);
        Assert.Contains("Hugging Face directory", inspect.Stdout);
        Assert.Contains("llama.expert_count", inspect.Stdout);
    }

    [Fact]
    public void ADirectoryWithoutConfigIsAOneLineError()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_dir.FullName, "empty")).FullName;
        var o = CliRunner.Run("run", "-m", empty, "-n", "1");
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("config.json", o.Stderr);
        Assert.DoesNotContain("   at ", o.Stderr);
    }
}

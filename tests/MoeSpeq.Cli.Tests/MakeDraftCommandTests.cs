using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Cli.Tests;

/// <summary><c>make-draft</c> and <c>--draft-experts FILE</c> as a user runs them.</summary>
public sealed class MakeDraftCommandTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-make-draft");

    public void Dispose() => _dir.Delete(recursive: true);

    string Temp(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void ARunWithAMadeDraftPrintsThePlainGreedyText()
    {
        string draft = Temp("demo.q2_k.gguf");
        var make = CliRunner.Run("make-draft", "-m", TestPaths.DemoModel, "--type", "q2_k", "-o", draft);
        Assert.True(make.ExitCode == 0, make.Stderr);
        Assert.Equal("", make.Stdout);
        Assert.Contains("converted 192 experts of 6 layers to Q2_K (Q4_0 where rows are not whole Q2_K blocks)", make.Stderr);
        Assert.Contains($"wrote {draft} ({new FileInfo(draft).Length:N0} bytes)", make.Stderr);

        string[] args = ["run", "-p", "Returns a value that indicates", "-n", "32", "--temp", "0"];
        var plain = CliRunner.Run(args);
        var speculative = CliRunner.Run([.. args, "--speculate", "4", "--draft-experts", draft]);
        Assert.True(speculative.ExitCode == 0, speculative.Stderr);
        Assert.Equal(plain.Stdout, speculative.Stdout);
        Assert.Matches(@"self-draft: Q2_K experts .*read from demo\.q2_k\.gguf, [\d.]+ MB resident", speculative.Stderr);
        Assert.Matches(@"speculation: \d+ cycles", speculative.Stderr);
    }

    static void AssertOneLineError(CliRunner.Outcome o, string says)
    {
        Assert.Equal(2, o.ExitCode);
        var line = Assert.Single(o.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("moespeq: error: ", line);
        Assert.Contains(says, line);
    }

    [Fact]
    public void BadTargetsTypesAndDraftFilesAreOneLineErrors()
    {
        string draft = Temp("golden.gguf");
        Assert.Equal(0, CliRunner.Run("make-draft", "-m", TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), "-o", draft).ExitCode);
        string truncated = Temp("truncated.gguf");
        var bytes = File.ReadAllBytes(draft);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        string dense = Temp("dense.gguf");
        Assert.Equal(0, CliRunner.Run("make-model", "--arch", "llama", "--layers", "1", "--dim", "64", "--heads", "2", "--kv-heads", "1",
            "--ffn", "128", "--vocab", "300", "--type", "F32", "-o", dense).ExitCode);

        AssertOneLineError(CliRunner.Run("make-draft", "-m", TestPaths.DemoModel, "--type", "q3", "-o", Temp("x.gguf")), "--type q3: choose from q4_0, q4_k, q2_k, q8_0");
        AssertOneLineError(CliRunner.Run("make-draft", "-o", Temp("x.gguf")), "--model");
        AssertOneLineError(CliRunner.Run("make-draft", "-m", Temp("absent.gguf"), "-o", Temp("x.gguf")), "absent.gguf");
        AssertOneLineError(CliRunner.Run("make-draft", "-m", dense, "-o", Temp("x.gguf")), "dense.gguf has no routed experts");

        string[] run = ["run", "-n", "2", "--speculate", "2", "--draft-experts"];
        AssertOneLineError(CliRunner.Run([.. run, draft]), $"draft experts {draft}: llama.block_count: 2, but the target moe-demo-q8_0.gguf has 6");
        AssertOneLineError(CliRunner.Run([.. run, truncated]), "truncated");
        AssertOneLineError(CliRunner.Run([.. run, Temp("absent.gguf")]), "--draft-experts: ");
        Assert.False(File.Exists(Temp("x.gguf")));
    }
}

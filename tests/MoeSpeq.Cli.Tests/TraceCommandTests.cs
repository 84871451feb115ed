using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Cli.Tests;

public sealed class TraceCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-trace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void RunRecordsATraceThatAnalyzeReplaysIntoATableAndAPlot()
    {
        string trace = Path.Combine(_dir, "run.trace");
        var run = CliRunner.Run("run", "-m", TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), "-n", "16", "--temp", "0",
            "--slow-tier", "disk", "--expert-cache", "50%", "--trace", trace);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("trace:", run.Stderr);

        foreach (string plot in new[] { "hit.svg", "hit.png" })
        {
            string plotPath = Path.Combine(_dir, plot);
            var analyze = CliRunner.Run("trace", "analyze", trace, "--budgets", "25%,50%,100%", "--plot", plotPath);
            Assert.True(analyze.ExitCode == 0, analyze.Stderr);
            foreach (string column in new[] { "lru", "lfu", "activation", "lookahead", "Belady MIN", "oracle decode t/s", "look-ahead recall" })
                Assert.Contains(column, analyze.Stdout);
            Assert.True(new FileInfo(plotPath).Length > 1000);
        }
    }

    [Fact]
    public void ACorruptTraceOrABadBudgetIsAOneLineError()
    {
        string bad = Path.Combine(_dir, "bad.trace");
        File.WriteAllBytes(bad, [0x4D, 0x53, 0x58, 0x54, 1, 0, 0, 0, 9]);
        var corrupt = CliRunner.Run("trace", "analyze", bad);
        Assert.Equal(2, corrupt.ExitCode);
        Assert.StartsWith("moespeq: error:", corrupt.Stderr);
        Assert.Single(corrupt.Stderr.TrimEnd().Split('\n'));

        var budget = CliRunner.Run("trace", "analyze", bad, "--budgets", "250%");
        Assert.Equal(2, budget.ExitCode);
        Assert.Contains("percentage", budget.Stderr);
    }
}

using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Cli.Tests;

/// <summary>Bad arguments and bad files end in one line on stderr and exit code 2, never a stack trace.</summary>
public class ErrorHandlingTests
{
    static void AssertOneLineError(CliRunner.Outcome o)
    {
        Assert.Equal(2, o.ExitCode);
        var lines = o.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("moespeq: error:", lines[0]);
        Assert.DoesNotContain("   at ", o.Stderr);
    }

    [Theory]
    [InlineData("eval", "--tokens", "1,2")]                       // missing -m
    [InlineData("eval", "-m", "/nonexistent/model.gguf", "--tokens", "1")]
    [InlineData("no-such-command")]
    [InlineData("make-model", "--dim", "100", "--heads", "3", "-o", "/tmp/never.gguf")]
    [InlineData("quantize", "a.gguf", "b.gguf", "--type", "Q9_9")]
    [InlineData("bench", "-m", "/nonexistent.gguf", "--threads", "0")]
    [InlineData("run", "--temp", "-1")]
    public void BadArgumentsGiveOneLine(params string[] args) => AssertOneLineError(CliRunner.Run(args));

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("5000")]
    public void BenchRejectsAThreadCountOutOfRange(string threads)
    {
        var o = CliRunner.Run("bench", "-m", TestPaths.DemoModel, "-p", "8", "-n", "4", "-r", "1", "--threads", threads);
        AssertOneLineError(o);
        Assert.Contains("--threads", o.Stderr);
    }

    [Theory]
    [InlineData("--link-bandwidth", "0")]
    [InlineData("--link-bandwidth", "-2")]
    [InlineData("--link-bandwidth", "NaN")]
    [InlineData("--link-bandwidth", "1e9")]
    [InlineData("--link-latency", "-1")]
    [InlineData("--link-latency", "NaN")]
    [InlineData("--link-latency", "1e12")]
    public void BadLinkValuesGiveOneLine(string flag, string value)
    {
        var o = CliRunner.Run("eval", "-m", TestPaths.DemoModel, "--tokens", "1,2", "--slow-tier", "host", flag, value);
        AssertOneLineError(o);
        Assert.Contains(flag, o.Stderr);
    }

    [Fact]
    public void TruncatedModelGivesOneLine()
    {
        var source = TestPaths.DemoModel;
        var path = Path.Combine(Path.GetTempPath(), $"truncated-{Guid.NewGuid():N}.gguf");
        try
        {
            using (var input = File.OpenRead(source))
            using (var output = File.Create(path))
            {
                var buffer = new byte[input.Length / 2];
                input.ReadExactly(buffer);
                output.Write(buffer);
            }
            var o = CliRunner.Run("eval", "-m", path, "--tokens", "1,2,3");
            AssertOneLineError(o);
            Assert.Contains("truncated", o.Stderr);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TokenIdOutsideVocabularyIsRejected()
    {
        var o = CliRunner.Run("eval", "-m", TestPaths.DemoModel, "--tokens", "1,999999");
        AssertOneLineError(o);
        Assert.Contains("999999", o.Stderr);
    }
}

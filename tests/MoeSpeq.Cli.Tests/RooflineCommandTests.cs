using System.Text.Json;
using MoeSpeq.Cli.Tests.Plots;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Cli.Tests;

public sealed class RooflineCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-roofline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static readonly string[] HostTier = ["--slow-tier", "host", "--expert-cache", "25%", "--link-bandwidth", "0.5"];

    [Fact]
    public void OnTheDemoModelItWritesThePlotAndATableThatMarksKStar()
    {
        string plot = Path.Combine(_dir, "roofline.svg");
        var o = CliRunner.Run(["roofline", "-m", TestPaths.DemoModel, .. HostTier, "-n", "24", "-o", plot]);
        Assert.True(o.ExitCode == 0, o.Stderr);
        ImageAssert.Svg(plot);
        foreach (string column in new[] { "predicted tok/s", "measured tok/s", "compute roof tok/s", "link roof tok/s", "◄ k*" })
            Assert.Contains(column, o.Stdout);
        Assert.Matches(@"k\* = \d+: predicted", o.Stdout);
        Assert.Contains($"plot: {plot}", o.Stdout);
    }

    [Fact]
    public void SweepingDepthsMeasuresEveryDepthAndJsonReportsIt()
    {
        string plot = Path.Combine(_dir, "roofline.png");
        var o = CliRunner.Run(["roofline", "-m", TestPaths.DemoModel, .. HostTier, "-n", "16", "--max-k", "3", "--sweep-depths", "--json", "-o", plot]);
        Assert.True(o.ExitCode == 0, o.Stderr);
        ImageAssert.Png(plot);

        using var json = JsonDocument.Parse(o.Stdout);
        var root = json.RootElement;
        int chosen = root.GetProperty("chosen_k").GetInt32();
        Assert.InRange(chosen, 0, 3);
        Assert.True(root.GetProperty("link_bytes_per_second").GetDouble() > 0);
        var depths = root.GetProperty("depths").EnumerateArray().ToArray();
        Assert.Equal(4, depths.Length);
        foreach (var depth in depths)
        {
            Assert.True(depth.GetProperty("cycles").GetInt64() > 0);
            var measured = depth.GetProperty("measured");
            Assert.Equal(JsonValueKind.Object, measured.ValueKind);
            Assert.True(measured.GetProperty("tokens_per_second").GetDouble() > 0);
            Assert.True(depth.GetProperty("predicted").GetProperty("tokens_per_second").GetDouble() > 0);
        }
    }

    [Fact]
    public void ABadPlotExtensionIsAOneLineErrorBeforeAnythingRuns()
    {
        var o = CliRunner.Run("roofline", "-m", TestPaths.DemoModel, "-o", Path.Combine(_dir, "roofline.jpg"));
        Assert.Equal(2, o.ExitCode);
        Assert.StartsWith("moespeq: error:", o.Stderr);
        Assert.Contains(".png or .svg", o.Stderr);
        Assert.Single(o.Stderr.TrimEnd().Split('\n'));
    }
}

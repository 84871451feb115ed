using MoeSpeq.Cli.Plots;
using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Cli.Tests.Plots;

public sealed class RooflinePlotTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-roofline-plot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    const double Link = 2e9;

    // A depth whose cycle is `compute` seconds of compute plus `stall` seconds of synchronous I/O at Link bytes/s.
    static RooflinePoint Point(int k, double tokens, double compute, double stall)
    {
        double bytes = stall * Link;
        return new RooflinePoint(k, tokens, compute + stall, compute, bytes,
            bytes > 0 ? tokens / bytes : double.PositiveInfinity, tokens / (compute + stall), tokens / compute,
            stall > 0 ? tokens / stall : double.PositiveInfinity);
    }

    static readonly RooflinePoint[] Predicted = [Point(0, 1, 0.05, 0), Point(1, 1.8, 0.06, 0.01), Point(2, 2.4, 0.07, 0.03), Point(3, 2.8, 0.08, 0.08)];
    static readonly RooflinePoint[] Measured = [Point(1, 1.7, 0.065, 0.012), Point(2, 2.5, 0.07, 0.035)];

    [Fact]
    public void SvgAndPngAreWrittenWithTheirFormatsHeaders()
    {
        string svg = Path.Combine(_dir, "roofline.svg");
        RooflinePlot.Save(svg, "demo: roofline", Predicted, Measured, chosenDepth: 2, Link);
        ImageAssert.Svg(svg);

        string png = Path.Combine(_dir, "roofline.PNG");
        RooflinePlot.Save(png, "demo: roofline", Predicted, Measured, chosenDepth: 2, Link);
        ImageAssert.Png(png);
    }

    [Fact]
    public void WithoutALinkOrMeasurementsThePlotIsStillDrawn()
    {
        // Resident experts: no synchronous I/O anywhere, every point at the right edge, no link roof.
        RooflinePoint[] resident = [Point(0, 1, 0.05, 0), Point(1, 1.9, 0.06, 0)];
        string svg = Path.Combine(_dir, "resident.svg");
        RooflinePlot.Save(svg, "resident", resident, [], chosenDepth: 1, linkBytesPerSecond: 0);
        ImageAssert.Svg(svg);
    }

    [Theory]
    [InlineData("roofline.pdf")]
    [InlineData("roofline")]
    public void AnotherExtensionIsAnArgumentErrorAndWritesNothing(string name)
    {
        string path = Path.Combine(_dir, name);
        var e = Assert.Throws<ArgumentException>(() => RooflinePlot.Save(path, "t", Predicted, Measured, 2, Link));
        Assert.Contains(".png or .svg", e.Message);
        Assert.False(File.Exists(path));
    }
}

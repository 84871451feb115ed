using System.Globalization;
using MoeSpeq.Speculative.Governor;
using ScottPlot;

namespace MoeSpeq.Cli.Plots;

/// <summary>
/// The Amortization Roofline on log-log axes, as PNG or SVG by the file's extension: tokens/s against amortized
/// intensity (tokens per MB of synchronous I/O), with the link roof, the compute roof, the model's Θ(k) per depth,
/// the measured points per depth and the chosen k*.
/// </summary>
/// <remarks>
/// <para>The link roof is the diagonal <c>y = B_link · x</c>: a cycle that did nothing but its synchronous I/O.
/// The compute roof is one horizontal line at the best compute-only rate over the predicted depths,
/// <c>max_k ComputeRoof(k)</c>, the classic roofline's peak; each depth's own compute roof is lower or equal and
/// is left to the table, since nine more horizontal lines would bury the points. Every point lies under both.</para>
/// <para>Depths with no synchronous I/O have infinite intensity; they are drawn in a strip at the right edge
/// whose tick says so. Log axes are drawn as log10 of the values with ticks labelled by the values.</para>
/// </remarks>
public static class RooflinePlot
{
    const int Width = 1000, Height = 700;
    const double BytesPerMB = 1e6;
    static readonly Color LinkColor = Colors.SteelBlue, ComputeColor = Colors.DarkOrange;
    static readonly Color PredictedColor = Colors.Black, MeasuredColor = Colors.SeaGreen, ChosenColor = Colors.Crimson;

    /// <summary>
    /// Writes the plot to <paramref name="path"/> (.png or .svg, else <see cref="ArgumentException"/>).
    /// <paramref name="predicted"/> and <paramref name="measured"/> are per-depth points (either may be empty);
    /// <paramref name="chosenDepth"/> is k*, marked on its predicted point; <paramref name="linkBytesPerSecond"/> is
    /// the B_link the points' synchronous bytes were computed with (0: no link roof).
    /// </summary>
    public static void Save(string path, string title, IReadOnlyList<RooflinePoint> predicted, IReadOnlyList<RooflinePoint> measured,
        int chosenDepth, double linkBytesPerSecond)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(measured);
        CheckPath(path);
        if (!(linkBytesPerSecond >= 0) || double.IsInfinity(linkBytesPerSecond))
            throw new ArgumentException($"link bandwidth {linkBytesPerSecond} must be finite and >= 0", nameof(linkBytesPerSecond));

        var shown = predicted.Concat(measured).Where(p => double.IsFinite(p.Throughput) && p.Throughput > 0).ToList();
        double computeRoof = predicted.Select(p => p.ComputeRoof).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        double linkPerMB = linkBytesPerSecond / BytesPerMB;   // MB/s: tokens/s per token/MB
        var frame = LogFrame.Fit(shown, computeRoof, linkPerMB);

        var plot = new Plot();
        if (linkPerMB > 0)
        {
            // y = B·x is a line of slope 1 in log-log space.
            var link = plot.Add.Scatter(new[] { frame.Left, frame.FiniteRight }, new[] { frame.Left + Math.Log10(linkPerMB), frame.FiniteRight + Math.Log10(linkPerMB) });
            Style(link, LinkColor, lineWidth: 2.5f, MarkerShape.None, markerSize: 0);
            link.LegendText = $"link roof: {Format(linkBytesPerSecond / 1e9)} GB/s x intensity";
        }
        if (computeRoof > 0)
        {
            var compute = plot.Add.Scatter(new[] { frame.Left, frame.Right }, new[] { Math.Log10(computeRoof), Math.Log10(computeRoof) });
            Style(compute, ComputeColor, lineWidth: 2.5f, MarkerShape.None, markerSize: 0);
            compute.LegendText = $"compute roof: {Format(computeRoof)} tok/s (best compute-only depth)";
        }
        if (frame.HasInfiniteStrip)
        {
            var edge = plot.Add.Scatter(new[] { frame.StripStart, frame.StripStart }, new[] { frame.Bottom, frame.Top });
            Style(edge, Colors.Gray, lineWidth: 1, MarkerShape.None, markerSize: 0);
            edge.LegendText = "right of the grey line: no synchronous I/O (infinite intensity)";
        }

        AddDepths(plot, frame, predicted, "predicted tokens/s per depth k", PredictedColor, MarkerShape.FilledCircle, labelAbove: true);
        AddDepths(plot, frame, measured, "measured tokens/s per depth k", MeasuredColor, MarkerShape.FilledSquare, labelAbove: false);

        if (predicted.FirstOrDefault(p => p.Depth == chosenDepth) is { } chosen && shown.Contains(chosen))
        {
            var ring = plot.Add.Marker(frame.X(chosen.Intensity), Math.Log10(chosen.Throughput), MarkerShape.OpenCircle, 24, ChosenColor);
            ring.MarkerLineWidth = 3;
            ring.LegendText = $"chosen k* = {chosenDepth}: {Format(chosen.Throughput)} tok/s predicted";
            var label = plot.Add.Text($"k*={chosenDepth}", frame.X(chosen.Intensity), Math.Log10(chosen.Throughput));
            label.LabelFontColor = ChosenColor;
            label.LabelFontSize = 14;
            label.LabelBold = true;
            label.Alignment = Alignment.UpperLeft;
            label.OffsetX = 12;
            label.OffsetY = 10;
        }

        plot.Title(title, size: 15);
        plot.XLabel("amortized intensity (accepted tokens per MB of synchronous I/O, log)");
        plot.YLabel("tokens/s (log)");
        plot.Axes.Bottom.TickGenerator = frame.XTicks();
        plot.Axes.Left.TickGenerator = frame.YTicks();
        plot.Axes.SetLimits(frame.Left, frame.Right, frame.Bottom, frame.Top);
        // Below the data, not on it: measured points can land anywhere under the roofs, and noise can lift one above.
        plot.ShowLegend(Edge.Bottom);
        if (Path.GetExtension(path).Equals(".svg", StringComparison.OrdinalIgnoreCase)) plot.SaveSvg(path, Width, Height);
        else plot.SavePng(path, Width, Height);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="path"/> ends in .png or .svg, so a caller can check before a long run.</summary>
    public static void CheckPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".png" or ".svg")) throw new ArgumentException($"{path}: the roofline plot must be a .png or .svg file");
    }

    static void AddDepths(Plot plot, LogFrame frame, IReadOnlyList<RooflinePoint> points, string legend, Color color, MarkerShape shape, bool labelAbove)
    {
        var drawn = points.Where(p => double.IsFinite(p.Throughput) && p.Throughput > 0).OrderBy(p => p.Depth).ToArray();
        if (drawn.Length == 0) return;
        double[] x = [.. drawn.Select(p => frame.X(p.Intensity))];
        double[] y = [.. drawn.Select(p => Math.Log10(p.Throughput))];
        // Unjoined: intensity need not grow with k, and a line through the depths in order would zigzag.
        var scatter = plot.Add.Scatter(x, y);
        Style(scatter, color, lineWidth: 0, shape, markerSize: 8);
        scatter.LegendText = legend;
        for (int i = 0; i < drawn.Length; i++)
        {
            var label = plot.Add.Text($"{drawn[i].Depth}", x[i], y[i]);
            label.LabelFontColor = color;
            label.LabelFontSize = 11;
            // Predicted labels above right, measured below right, so a measured point on its prediction keeps both legible.
            label.Alignment = labelAbove ? Alignment.LowerLeft : Alignment.UpperLeft;
            label.OffsetX = 5;
            label.OffsetY = labelAbove ? -4 : 4;
        }
    }

    static void Style(ScottPlot.Plottables.Scatter scatter, Color color, float lineWidth, MarkerShape shape, float markerSize)
    {
        // Lines are told apart by colour and marker, never dashes: Skia's SVG backend cannot write dash effects.
        scatter.Color = color;
        scatter.LineWidth = lineWidth;
        scatter.MarkerShape = shape;
        scatter.MarkerSize = markerSize;
    }

    static string Format(double value) => value.ToString(value >= 100 ? "F0" : value >= 1 ? "F1" : "G2", CultureInfo.InvariantCulture);

    /// <summary>The plot's extent in log10 units, and where the infinite-intensity strip sits.</summary>
    sealed record LogFrame(double Left, double FiniteRight, double Right, double Bottom, double Top, bool HasInfiniteStrip)
    {
        // Width of the strip for infinite intensity, and the gap before it, in decades.
        const double Gap = 0.3, Strip = 0.6;

        public double StripStart => FiniteRight + Gap / 2;

        /// <summary>log10 of an intensity in tokens per MB, or the strip's middle for infinity.</summary>
        public double X(double tokensPerByte) => double.IsPositiveInfinity(tokensPerByte)
            ? FiniteRight + Gap + Strip / 2
            : Math.Log10(tokensPerByte * BytesPerMB);

        public static LogFrame Fit(IReadOnlyList<RooflinePoint> points, double computeRoof, double linkPerMB)
        {
            var xs = points.Where(p => double.IsFinite(p.Intensity) && p.Intensity > 0).Select(p => Math.Log10(p.Intensity * BytesPerMB)).ToList();
            // The ridge, where the roofs cross, belongs in view: it is the intensity beyond which I/O stops binding.
            if (linkPerMB > 0 && computeRoof > 0) xs.Add(Math.Log10(computeRoof / linkPerMB));
            double left = xs.Count > 0 ? xs.Min() - 0.5 : -1;
            double finiteRight = xs.Count > 0 ? xs.Max() + 0.5 : 1;
            bool strip = points.Any(p => double.IsPositiveInfinity(p.Intensity));
            double right = strip ? finiteRight + Gap + Strip : finiteRight;

            var ys = points.Select(p => Math.Log10(p.Throughput)).ToList();
            if (computeRoof > 0) ys.Add(Math.Log10(computeRoof));
            double bottom = ys.Count > 0 ? ys.Min() - 0.4 : 0;
            double top = ys.Count > 0 ? ys.Max() + 0.4 : 2;
            return new LogFrame(left, finiteRight, right, bottom, top, strip);
        }

        public ScottPlot.TickGenerators.NumericManual XTicks()
        {
            var ticks = Decades(Left, FiniteRight);
            if (HasInfiniteStrip) ticks.AddMajor(X(double.PositiveInfinity), "no sync I/O");
            return ticks;
        }

        public ScottPlot.TickGenerators.NumericManual YTicks() => Decades(Bottom, Top);

        /// <summary>A major tick per power of ten in [low, high] and minor ticks at 2..9 times it.</summary>
        static ScottPlot.TickGenerators.NumericManual Decades(double low, double high)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (int decade = (int)Math.Floor(low); decade <= (int)Math.Ceiling(high); decade++)
            {
                if (decade >= low && decade <= high) ticks.AddMajor(decade, Math.Pow(10, decade).ToString("G", CultureInfo.InvariantCulture));
                for (int m = 2; m <= 9; m++)
                {
                    double minor = decade + Math.Log10(m);
                    if (minor >= low && minor <= high) ticks.AddMinor(minor);
                }
            }
            // A span under one decade would show no labels: label its ends instead.
            if (Math.Floor(high) < Math.Ceiling(low))
            {
                ticks.AddMajor(low, Math.Pow(10, low).ToString("G3", CultureInfo.InvariantCulture));
                ticks.AddMajor(high, Math.Pow(10, high).ToString("G3", CultureInfo.InvariantCulture));
            }
            return ticks;
        }
    }
}

using MoeSpeq.Experts.Analysis;

namespace MoeSpeq.Cli.Plots;

/// <summary>Hit rate against cache budget, one line per policy and one for Belady's MIN, as PNG or SVG by the file's extension.</summary>
public static class HitRatePlot
{
    public static void Save(string path, string title, IReadOnlyList<BudgetAnalysis> rows, long totalExpertBytes)
    {
        var plot = new ScottPlot.Plot();
        double[] budgetPercent = [.. rows.Select(r => 100.0 * r.Bytes / Math.Max(1, totalExpertBytes))];
        foreach (string policy in rows[0].Results.Select(r => r.Policy))
        {
            double[] hit = [.. rows.Select(r => 100 * r.Of(policy).HitRate)];
            var line = plot.Add.Scatter(budgetPercent, hit);
            line.LegendText = policy == CacheSimulator.Belady ? "Belady MIN (oracle)" : policy;
            line.LineWidth = policy == CacheSimulator.Belady ? 3 : 2;
            line.MarkerSize = 7;
            // Set apart by marker, not dashes: Skia's SVG backend cannot write dash effects.
            if (policy == CacheSimulator.Belady) line.MarkerShape = ScottPlot.MarkerShape.FilledDiamond;
        }
        plot.Title(title);
        plot.XLabel("expert cache budget (% of expert bytes)");
        plot.YLabel("hit rate (%)");
        plot.Axes.SetLimitsY(0, 100);
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        const int Width = 800, Height = 500;
        string ext = Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".svg": plot.SaveSvg(path, Width, Height); break;
            case ".png": plot.SavePng(path, Width, Height); break;
            default: throw new ArgumentException($"--plot {path}: the file must end in .png or .svg");
        }
    }
}

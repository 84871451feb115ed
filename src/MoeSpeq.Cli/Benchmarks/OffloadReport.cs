using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace MoeSpeq.Cli.Benchmarks;

/// <summary>Prints an <see cref="OffloadBenchmark.Report"/>: a table with every row's ratio to on-demand, or one JSON object.</summary>
public static class OffloadReport
{
    public static void Write(TextWriter output, string model, OffloadBenchmark.Report report, OffloadBenchmark.Settings settings, bool json)
    {
        double linkRoof = report.LinkBytesPerSecond / Math.Max(1, report.ExpertBytesPerToken);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = model,
                ["tier"] = report.Tier,
                ["link_bytes_per_second"] = report.LinkBytesPerSecond,
                ["expert_bytes_per_token"] = report.ExpertBytesPerToken,
                ["on_demand_link_limit_tokens_per_second"] = linkRoof,
                ["decode_tokens"] = settings.DecodeTokens,
                ["rounds"] = settings.Rounds,
                ["rows"] = report.Rows.Select(r => new Dictionary<string, object>
                {
                    ["routing"] = r.Routing,
                    ["configuration"] = r.Configuration,
                    ["budget"] = r.Budget,
                    ["decode_tokens_per_second"] = r.TokensPerSecond,
                    ["decode_tokens_per_second_by_round"] = r.RoundTokensPerSecond,
                    ["over_on_demand"] = r.OverOnDemand,
                    ["hit_rate"] = r.HitRate,
                    ["stall_ms_per_token"] = r.StallMsPerToken,
                    ["bytes_per_token"] = r.BytesPerToken,
                    ["bound"] = r.Expected,
                }).ToArray(),
            }));
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        string rounds = settings.Rounds > 1 ? $"; {settings.Rounds} rounds over every row, each figure the median, ratios taken within each round" : "";
        if (Console.IsOutputRedirected) console.Profile.Width = 200;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model}: experts {report.Tier}; measured link {report.LinkBytesPerSecond / 1e9:F2} GB/s; a token routes {report.ExpertBytesPerToken / 1e6:F1} MB of experts " +
            $"(on-demand link limit {linkRoof:F2} t/s); {settings.DecodeTokens} timed decode steps after {settings.WarmupTokens} warm-up{rounds}"));
        var table = new Table().AddColumn("routing").AddColumn("configuration").AddColumn("budget")
            .AddColumn(new TableColumn("decode t/s").RightAligned());
        if (settings.Rounds > 1) table.AddColumn(new TableColumn("rounds' range").RightAligned());
        table.AddColumn(new TableColumn("× on demand").RightAligned())
            .AddColumn(new TableColumn("hit rate").RightAligned()).AddColumn(new TableColumn("stall ms/token").RightAligned())
            .AddColumn(new TableColumn("MB read/token").RightAligned());
        foreach (var r in report.Rows)
        {
            var cells = new List<string>
            {
                Markup.Escape(r.Routing), Markup.Escape(r.Configuration + (r.Expected ? " [bound]" : "")), Markup.Escape(r.Budget),
                $"{r.TokensPerSecond:F2}",
            };
            if (settings.Rounds > 1) cells.Add($"{r.RoundTokensPerSecond.Min():F2} – {r.RoundTokensPerSecond.Max():F2}");
            cells.AddRange([$"{r.OverOnDemand:F2}×", $"{r.HitRate:P1}", r.Expected ? "–" : $"{r.StallMsPerToken:F1}", $"{r.BytesPerToken / 1e6:F1}"]);
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
        console.WriteLine("oracle: Belady's MIN over the LRU run's own trace at the same budget, every read overlapped with compute: max(compute, bytes / link)");
    }
}

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
                ["rows"] = report.Rows.Select(r => new Dictionary<string, object>
                {
                    ["routing"] = r.Routing,
                    ["configuration"] = r.Configuration,
                    ["budget"] = r.Budget,
                    ["decode_tokens_per_second"] = r.TokensPerSecond,
                    ["hit_rate"] = r.HitRate,
                    ["stall_ms_per_token"] = r.StallMsPerToken,
                    ["bytes_per_token"] = r.BytesPerToken,
                    ["bound"] = r.Expected,
                }).ToArray(),
            }));
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        if (Console.IsOutputRedirected) console.Profile.Width = 200;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model}: experts {report.Tier}; measured link {report.LinkBytesPerSecond / 1e9:F2} GB/s; a token routes {report.ExpertBytesPerToken / 1e6:F1} MB of experts " +
            $"(on-demand link limit {linkRoof:F2} t/s); {settings.DecodeTokens} timed decode steps after {settings.WarmupTokens} warm-up"));
        var table = new Table().AddColumn("routing").AddColumn("configuration").AddColumn("budget")
            .AddColumn(new TableColumn("decode t/s").RightAligned()).AddColumn(new TableColumn("× on demand").RightAligned())
            .AddColumn(new TableColumn("hit rate").RightAligned()).AddColumn(new TableColumn("stall ms/token").RightAligned())
            .AddColumn(new TableColumn("MB read/token").RightAligned());
        foreach (var group in report.Rows.GroupBy(r => r.Routing))
        {
            double onDemand = group.First().TokensPerSecond;
            foreach (var r in group)
                table.AddRow(Markup.Escape(r.Routing), Markup.Escape(r.Configuration + (r.Expected ? " [bound]" : "")), Markup.Escape(r.Budget),
                    $"{r.TokensPerSecond:F2}", $"{r.TokensPerSecond / onDemand:F2}×", $"{r.HitRate:P1}",
                    r.Expected ? "–" : $"{r.StallMsPerToken:F1}", $"{r.BytesPerToken / 1e6:F1}");
        }
        console.Write(table);
        console.WriteLine("oracle: Belady's MIN over the LRU run's own trace at the same budget, every read overlapped with compute: max(compute, bytes / link)");
    }
}

using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace MoeSpeq.Cli.Benchmarks;

/// <summary>
/// Prints a <see cref="SpeculativeBenchmark.Report"/>: per memory budget the Figure-13 rows with their memory, their
/// ratio to on demand and to LRU + look-ahead at the same total memory; per link bandwidth the governor against the
/// best fixed depth. Or one JSON object.
/// </summary>
public static class SpeculativeReport
{
    public static void Write(TextWriter output, string model, SpeculativeBenchmark.Report report, SpeculativeBenchmark.Settings settings, bool json)
    {
        double fullMissSeconds = report.ExpertBytesPerToken / Math.Max(report.LinkBytesPerSecond, 1);
        double ratio = fullMissSeconds / Math.Max(report.ComputeSecondsPerToken, 1e-9);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = model,
                ["tier"] = report.Tier,
                ["draft"] = report.DraftDescription,
                ["replay"] = report.ReplayDescription ?? "",
                ["link_bytes_per_second"] = report.LinkBytesPerSecond,
                ["expert_bytes_per_token"] = report.ExpertBytesPerToken,
                ["total_expert_bytes"] = report.TotalExpertBytes,
                ["compute_seconds_per_token"] = report.ComputeSecondsPerToken,
                ["full_miss_load_to_compute_ratio"] = ratio,
                ["decode_tokens"] = settings.DecodeTokens,
                ["rows"] = report.Rows.Select(r => new Dictionary<string, object?>
                {
                    ["group"] = r.Group,
                    ["kind"] = r.Kind,
                    ["configuration"] = r.Configuration,
                    ["cache_bytes"] = r.CacheBytes,
                    ["draft_bytes"] = r.DraftBytes,
                    ["decode_tokens_per_second"] = r.TokensPerSecond,
                    ["hit_rate"] = r.HitRate,
                    ["stall_ms_per_token"] = r.StallMsPerToken,
                    ["bytes_per_token"] = r.BytesPerToken,
                    ["tokens_per_cycle"] = r.TokensPerCycle,
                    ["mean_depth"] = r.MeanDepth,
                    ["governor_depth"] = r.Governor?.Depth,
                    ["governor_predicted_tokens_per_second"] = r.Governor?.ForecastThroughput,
                    ["governor_measured_tokens_per_second"] = r.Governor?.MeasuredThroughput,
                }).ToArray(),
            }));
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        if (Console.IsOutputRedirected) console.Profile.Width = 220;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model}: experts {report.Tier}; {report.TotalExpertBytes / 1e6:F1} MB of experts; {report.DraftDescription}"));
        if (report.ReplayDescription is { Length: > 0 } replay) console.WriteLine(replay);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"measured link {report.LinkBytesPerSecond / 1e9:F3} GB/s; a token routes {report.ExpertBytesPerToken / 1e6:F2} MB of experts, " +
            $"{fullMissSeconds * 1e3:F1} ms to load with every use a miss, against {report.ComputeSecondsPerToken * 1e3:F1} ms of compute: " +
            $"ratio {ratio:F1}; {settings.DecodeTokens} timed tokens after {settings.WarmupTokens} warm-up"));
        foreach (var group in report.Rows.GroupBy(r => r.Group))
        {
            var rows = group.ToList();
            var onDemand = rows.FirstOrDefault(r => r.Kind == "(a)");
            var sameMemory = rows.FirstOrDefault(r => r.Kind == "(b)-SM");
            var table = new Table().Title(Markup.Escape(group.Key)).AddColumn("").AddColumn("configuration")
                .AddColumn(new TableColumn("memory: cache + draft = total (MB)").RightAligned())
                .AddColumn(new TableColumn("decode t/s").RightAligned());
            if (onDemand is not null) table.AddColumn(new TableColumn("× (a)").RightAligned());
            if (sameMemory is not null) table.AddColumn(new TableColumn("× (b)-SM").RightAligned());
            table.AddColumn(new TableColumn("tokens/cycle").RightAligned()).AddColumn(new TableColumn("hit rate").RightAligned())
                .AddColumn(new TableColumn("stall ms/token").RightAligned()).AddColumn(new TableColumn("MB read/token").RightAligned());
            foreach (var r in rows)
            {
                var cells = new List<string>
                {
                    r.Kind,
                    Markup.Escape(r.Configuration + (r.Governor is { } g ? $" (mean k {r.MeanDepth:F1}, k* {g.Depth})" : "")),
                    $"{r.CacheBytes / 1e6:F1} + {r.DraftBytes / 1e6:F1} = {r.TotalBytes / 1e6:F1}",
                    $"{r.TokensPerSecond:F2}",
                };
                if (onDemand is not null) cells.Add($"{r.TokensPerSecond / onDemand.TokensPerSecond:F2}×");
                if (sameMemory is not null) cells.Add($"{r.TokensPerSecond / sameMemory.TokensPerSecond:F2}×");
                cells.AddRange([$"{r.TokensPerCycle:F2}", $"{r.HitRate:P1}", $"{r.StallMsPerToken:F1}", $"{r.BytesPerToken / 1e6:F2}"]);
                table.AddRow(cells.ToArray());
            }
            console.Write(table);
            var fixedDepths = rows.Where(r => r.Kind == "(c)").ToList();
            if (rows.FirstOrDefault(r => r.Kind == "(d)") is { } governor && fixedDepths.Count > 0)
            {
                var best = fixedDepths.MaxBy(r => r.TokensPerSecond)!;
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"governor {governor.TokensPerSecond:F2} t/s = {governor.TokensPerSecond / best.TokensPerSecond:P1} of the best fixed depth ({best.Configuration}, {best.TokensPerSecond:F2} t/s); " +
                    $"its model forecast {governor.Governor?.ForecastThroughput:F2} t/s against {governor.Governor?.MeasuredThroughput:F2} measured over its last cycles"));
            }
        }
    }
}

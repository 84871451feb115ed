using System.CommandLine;
using System.Globalization;
using MoeSpeq.Cli.Plots;
using MoeSpeq.Experts;
using MoeSpeq.Experts.Analysis;
using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Tracing;
using Spectre.Console;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>trace analyze</c>: replays an expert trace under each eviction policy and Belady's MIN, with a plot and the oracle decode bound.</summary>
public static class TraceCommand
{
    public static Command Create()
    {
        var command = new Command("trace", "work with expert-access traces recorded by --trace");
        command.Subcommands.Add(Analyze());
        return command;
    }

    static Command Analyze()
    {
        var file = new Argument<string>("FILE") { Description = "a trace written by --trace" };
        var budgets = new Option<string>("--budgets") { Description = "cache budgets to replay, comma-separated (12.5%, 2GiB)", DefaultValueFactory = _ => "12.5%,25%,50%" };
        var policies = new Option<string>("--policies") { Description = $"eviction policies to replay: {string.Join(", ", EvictionPolicies.Names)}", DefaultValueFactory = _ => string.Join(",", EvictionPolicies.Names) };
        var plot = new Option<string>("--plot") { Description = "hit rate against budget, .png or .svg (default: FILE.hit-rate.svg)" };
        var link = new Option<double?>("--link-bandwidth") { Description = "slow-tier bandwidth in GB/s for the oracle bound (default: measured during the traced run)" };
        var command = new Command("analyze", "hit rate of every eviction policy and of Belady's MIN per budget, and the oracle decode time");
        command.Arguments.Add(file);
        foreach (var o in new Option[] { budgets, policies, plot, link }) command.Options.Add(o);
        command.SetAction(p =>
        {
            string path = p.GetValue(file)!;
            var budgetList = p.GetValue(budgets)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ExpertBudget.Parse).ToArray();
            if (budgetList.Length == 0) throw new ArgumentException("--budgets lists no budget");
            var policyList = p.GetValue(policies)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            foreach (var name in policyList)
                if (!EvictionPolicies.Names.Contains(name)) throw new ArgumentException($"--policies: unknown policy \"{name}\" (choose from {string.Join(", ", EvictionPolicies.Names)})");
            double? linkGBps = p.GetValue(link);
            if (linkGBps is { } g && !(g > 0 && g < 1e6)) throw new ArgumentException($"--link-bandwidth {g} must be a positive number of GB/s");

            // A speculative run's cache saw the target's verification passes, rejected drafts included.
            var trace = SpeculationTrace.IsSpeculationTrace(path) ? SpeculationTrace.Load(path).Target : ExpertTrace.Load(path);
            var shape = trace.Shape;
            var accesses = new TraceAccesses(trace);
            var rows = TraceAnalysis.HitRates(accesses, budgetList, policyList);
            double linkBytes = linkGBps * 1e9 ?? trace.LinkBytesPerSecond;
            long total = TraceAnalysis.TotalExpertBytes(shape);

            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
            // A file or pipe gets the whole table on one line per row rather than wrapped at 80 columns.
            if (Console.IsOutputRedirected) console.Profile.Width = 200;
            int decode = trace.Steps.Count(s => s.IsDecode);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{shape.Model}: {trace.TokenCount} tokens ({decode} decode steps), {shape.MoeLayerCount} MoE layers × {shape.Experts} experts, top-{shape.K}, " +
                $"{shape.ExpertBytes / 1e6:F2} MB per expert; {accesses.Keys.Length} expert uses"));
            var table = new Table().AddColumn("budget").AddColumn(new TableColumn("slots").RightAligned());
            foreach (var r in rows[0].Results) table.AddColumn(new TableColumn(r.Policy == CacheSimulator.Belady ? "Belady MIN" : r.Policy).RightAligned());
            table.AddColumn(new TableColumn("oracle decode t/s").RightAligned()).AddColumn("bound by").AddColumn(new TableColumn("oracle bytes/token").RightAligned());
            foreach (var row in rows)
            {
                var oracle = TraceAnalysis.Oracle(trace, row.Of(CacheSimulator.Belady), linkBytes);
                var cells = new List<string> { $"{row.Budget} ({InspectCommand.Bytes(row.Bytes)})", $"{row.Slots}" };
                cells.AddRange(row.Results.Select(r => $"{r.HitRate:P1}"));
                cells.Add(decode == 0 ? "–" : linkBytes > 0 ? $"{oracle.TokensPerSecond:F2}" : $"≤ {oracle.TokensPerSecond:F2}");
                cells.Add(decode == 0 ? "–" : linkBytes > 0 ? oracle.Limit : "compute (no link bandwidth)");
                cells.Add(decode == 0 ? "–" : InspectCommand.Bytes((long)oracle.BytesPerToken));
                table.AddRow([.. cells.Select(Markup.Escape)]);
            }
            console.Write(table);
            console.WriteLine(linkBytes > 0
                ? string.Create(CultureInfo.InvariantCulture, $"oracle: perfect foresight, Belady's MIN, I/O fully overlapped: max(compute, bytes / {linkBytes / 1e9:F2} GB/s) over the decode steps")
                : "oracle: no link bandwidth in the trace (a resident run) and no --link-bandwidth: the bound shown is compute alone");

            if (shape.HasProbabilities && shape.Depth >= 1) WriteLookahead(console, trace);

            string plotPath = p.GetValue(plot) is { Length: > 0 } given ? given : path + ".hit-rate.svg";
            HitRatePlot.Save(plotPath, $"{shape.Model}: expert cache hit rate", rows, total);
            console.WriteLine($"plot: {plotPath}");
            return 0;
        });
        return command;
    }

    static void WriteLookahead(IAnsiConsole console, ExpertTrace trace)
    {
        var shape = trace.Shape;
        var atK = TraceAnalysis.Lookahead(trace, 1, shape.K);
        var at2K = TraceAnalysis.Lookahead(trace, 1, 2 * shape.K);
        var table = new Table().AddColumn("MoE layer").AddColumn(new TableColumn($"look-ahead recall@{shape.K}").RightAligned())
            .AddColumn(new TableColumn($"recall in top-{2 * shape.K}").RightAligned());
        for (int m = 1; m < shape.MoeLayerCount; m++)
            table.AddRow($"{shape.MoeLayers[m]} (from {shape.MoeLayers[m - 1]})", $"{atK.Recall[m]:F3}", $"{at2K.Recall[m]:F3}");
        console.WriteLine("gate look-ahead: the next MoE layer's router applied to this layer's residual stream, against the experts it then chose");
        console.Write(table);
    }
}

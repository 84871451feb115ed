using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MoeSpeq.Cli.Plots;
using MoeSpeq.Experts;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Speculative.Governor;
using Spectre.Console;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// <c>roofline</c>: decodes greedily with the governor choosing k, then plots and tabulates the Amortization
/// Roofline it learnt (predicted Θ(k) per depth) beside what the cycles achieved per depth, with k* marked.
/// </summary>
public static class RooflineCommand
{
    const string DefaultPrompt = "The history of the printing press begins in the fifteenth century, when";

    /// <summary>Cycles each depth runs under --sweep-depths: enough for a mean, few enough to stay a preamble.</summary>
    const int SweepCycles = 4;

    public static Command Create()
    {
        var common = new CommonOptions(modelRequired: false);
        var prompt = new Option<string>("--prompt", "-p") { Description = "prompt text", DefaultValueFactory = _ => DefaultPrompt };
        var count = new Option<int>("--n-predict", "-n") { Description = "tokens to generate with the governor choosing k", DefaultValueFactory = _ => 64 };
        var sweep = new Option<bool>("--sweep-depths")
        {
            Description = $"first run every depth 0..--max-k for {SweepCycles} cycles, so each depth has measured points (the governor observes them too)",
        };
        var output = new Option<string>("--output", "-o") { Description = "the plot, .svg or .png", DefaultValueFactory = _ => "roofline.svg" };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var command = new Command("roofline", "the Amortization Roofline: tokens/s against tokens per synchronous I/O byte, predicted and measured per draft depth, with the governor's k*");
        common.AddTo(command);
        common.AddDraftTo(command);
        foreach (var o in new Option[] { prompt, count, sweep, output, json }) command.Options.Add(o);
        command.SetAction(p =>
        {
            int n = p.GetValue(count);
            if (n < 1) throw new ArgumentException($"--n-predict {n} must be at least 1");
            string plotPath = p.GetValue(output)!;
            RooflinePlot.CheckPath(plotPath);

            using var model = common.LoadGoverned(p, out var experts, out var speculation);
            using var draft = speculation.Draft;
            var governor = speculation.Governor ?? throw new InvalidOperationException("speculation without a governor");
            var tokenizer = Tokenizer.FromGguf(model.File.Header);
            var generator = new Generator(model, tokenizer, common.ContextLength(p, model), speculation);
            int[] promptIds = [.. tokenizer.Encode(p.GetValue(prompt)!, addSpecial: true, parseSpecial: true)];
            if (promptIds.Length == 0) throw new ArgumentException("the prompt encodes to no tokens and the vocabulary adds no BOS to start from");

            if (p.GetValue(sweep))
            {
                for (int k = 0; k <= governor.MaxDepth; k++)
                {
                    governor.FixedDepth = k;
                    // The first token comes from the prefill; each full cycle then yields at most k + 1.
                    generator.GenerateTokens(promptIds, 1 + SweepCycles * (k + 1), SamplerOptions.Greedy, _ => { });
                }
                governor.FixedDepth = null;
            }
            var result = generator.GenerateTokens(promptIds, n, SamplerOptions.Greedy, _ => { });

            var report = new Report(
                Model: Path.GetFileName(common.ModelPath(p)),
                Tier: Tier(experts),
                LinkBytesPerSecond: governor.Costs.LinkBytesPerSecond,
                ChosenDepth: governor.BestDepth(),
                Predicted: governor.Roofline(),
                Measured: governor.MeasuredPoints(),
                Governor: governor,
                Result: result);
            RooflinePlot.Save(plotPath, report.PlotTitle, report.Predicted, report.Measured, report.ChosenDepth, report.LinkBytesPerSecond);
            if (p.GetValue(json)) WriteJson(report, plotPath);
            else WriteTable(report, plotPath);
            if (common.SaveTrace(p, experts, speculation) is { } saved) Console.Error.WriteLine(saved);
            return 0;
        });
        return command;
    }

    sealed record Report(string Model, string Tier, double LinkBytesPerSecond, int ChosenDepth, IReadOnlyList<RooflinePoint> Predicted,
        IReadOnlyList<RooflinePoint> Measured, SpeculationGovernor Governor, GenerationResult Result)
    {
        public string Link => LinkBytesPerSecond > 0
            ? string.Create(CultureInfo.InvariantCulture, $"link {LinkBytesPerSecond / 1e9:F2} GB/s measured")
            : "no link measured";

        public string Title => $"{Model}: Amortization Roofline ({Tier}, {Link})";

        /// <summary>The title on two lines, to fit over the plot.</summary>
        public string PlotTitle => $"{Model}: Amortization Roofline\n{Tier}, {Link}";

        public RooflinePoint? MeasuredAt(int k) => Measured.FirstOrDefault(m => m.Depth == k);
    }

    static string Tier(ExpertRuntime experts) =>
        experts.Options.Offloads ? $"experts {experts.Options.SlowTier}, cache {experts.Options.Budget}" : "experts resident";

    static void WriteTable(Report report, string plotPath)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        // A file or pipe gets the whole table on one line per row rather than wrapped at 80 columns.
        if (Console.IsOutputRedirected) console.Profile.Width = 200;
        var result = report.Result;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{report.Title}: {result.GeneratedTokens} tokens at {result.DecodeTokensPerSecond:F1} tok/s decode; " +
            $"{report.Governor.Measured.TotalCycles} cycles observed"));
        var table = new Table().AddColumn("k").AddColumn(new TableColumn("cycles").RightAligned())
            .AddColumn(new TableColumn("predicted tok/s").RightAligned()).AddColumn(new TableColumn("measured tok/s").RightAligned())
            .AddColumn(new TableColumn("predicted tok/MB").RightAligned()).AddColumn(new TableColumn("measured tok/MB").RightAligned())
            .AddColumn(new TableColumn("compute roof tok/s").RightAligned()).AddColumn(new TableColumn("link roof tok/s").RightAligned());
        foreach (var predicted in report.Predicted)
        {
            var measured = report.MeasuredAt(predicted.Depth);
            string k = predicted.Depth == report.ChosenDepth ? $"{predicted.Depth} ◄ k*" : $"{predicted.Depth}";
            table.AddRow(Markup.Escape(k), $"{report.Governor.Measured.Cycles(predicted.Depth)}",
                Rate(predicted.Throughput), measured is null ? "–" : Rate(measured.Throughput),
                PerMB(predicted.Intensity), measured is null ? "–" : PerMB(measured.Intensity),
                Rate(predicted.ComputeRoof), Rate(predicted.LinkRoof));
        }
        console.Write(table);
        var chosen = report.Predicted[report.ChosenDepth];
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"k* = {report.ChosenDepth}: predicted {chosen.Throughput:F1} tok/s; roofs are the model's (tokens over compute time, tokens over stall time); " +
            $"tok/MB is tokens per MB of synchronous I/O (∞: none)"));
        console.WriteLine($"plot: {plotPath}");
    }

    static string Rate(double tokensPerSecond) => double.IsFinite(tokensPerSecond)
        ? tokensPerSecond.ToString("F1", CultureInfo.InvariantCulture) : "∞";

    static string PerMB(double tokensPerByte) => double.IsFinite(tokensPerByte)
        ? (tokensPerByte * 1e6).ToString("G3", CultureInfo.InvariantCulture) : "∞";

    static void WriteJson(Report report, string plotPath)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["model"] = report.Model,
            ["tier"] = report.Tier,
            ["link_bytes_per_second"] = report.LinkBytesPerSecond,
            ["chosen_k"] = report.ChosenDepth,
            ["generated_tokens"] = report.Result.GeneratedTokens,
            ["decode_tokens_per_second"] = report.Result.DecodeTokensPerSecond,
            ["cycles"] = report.Governor.Measured.TotalCycles,
            ["plot"] = plotPath,
            ["depths"] = report.Predicted.Select(predicted => new Dictionary<string, object?>
            {
                ["k"] = predicted.Depth,
                ["cycles"] = report.Governor.Measured.Cycles(predicted.Depth),
                ["predicted"] = Json(predicted),
                ["measured"] = report.MeasuredAt(predicted.Depth) is { } measured ? Json(measured) : null,
            }).ToArray(),
        }));
    }

    // JSON has no infinity: an infinite intensity or roof (no synchronous I/O) is null.
    static Dictionary<string, double?> Json(RooflinePoint point) => new()
    {
        ["tokens_per_cycle"] = Finite(point.ExpectedTokens),
        ["cycle_seconds"] = Finite(point.CycleSeconds),
        ["compute_seconds"] = Finite(point.ComputeSeconds),
        ["synchronous_bytes"] = Finite(point.SynchronousBytes),
        ["tokens_per_byte"] = Finite(point.Intensity),
        ["tokens_per_second"] = Finite(point.Throughput),
        ["compute_roof_tokens_per_second"] = Finite(point.ComputeRoof),
        ["link_roof_tokens_per_second"] = Finite(point.LinkRoof),
    };

    static double? Finite(double value) => double.IsFinite(value) ? value : null;
}

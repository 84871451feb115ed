using System.CommandLine;
using System.Text.Json;
using MoeSpeq.Cli.Benchmarks;
using MoeSpeq.Cli.Plots;
using MoeSpeq.Experts;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Inference;
using MoeSpeq.Model;
using MoeSpeq.Speculative;
using Spectre.Console;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// <c>bench</c>: prefill and decode tokens/s, with the memory-bandwidth limit and the fraction of it reached; with an
/// offloaded <c>--slow-tier</c>, decode under each offloading configuration side by side (<see cref="OffloadBenchmark"/>).
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var common = new CommonOptions(modelRequired: true);
        var prompt = new Option<int>("--prompt", "-p") { Description = "prompt tokens for the prefill test", DefaultValueFactory = _ => 512 };
        var decode = new Option<int>("--n-gen", "-n") { Description = "tokens for the decode test", DefaultValueFactory = _ => 128 };
        var reps = new Option<int>("--repetitions", "-r") { Description = "timed repetitions: the best is reported; offloaded, rounds over every configuration, each figure the median (default there: 1)", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var warmup = new Option<int>("--warmup") { Description = "offloaded: untimed decode steps before the timed ones", DefaultValueFactory = _ => 8 };
        var sweep = new Option<string>("--sweep") { Description = "offloaded: further budgets for the lookahead-aware + predictor run", DefaultValueFactory = _ => "100%,50%,25%,12.5%" };
        var speculate = new Option<bool>("--speculate") { Description = "offloaded: speculative decoding against offloading at equal memory (on demand, LRU + look-ahead, fixed k, the governor) at each of --budgets" };
        var budgets = new Option<string>("--budgets") { Description = "with --speculate: the cache budgets (low and high memory) of its tables", DefaultValueFactory = _ => "10%,40%" };
        var maxK = new Option<int>("--max-k") { Description = "with --speculate: fixed depths 1..N, and the governor's ceiling", DefaultValueFactory = _ => 8 };
        var draftExperts = new Option<string>("--draft-experts") { Description = $"with --speculate: the self-draft's expert type ({string.Join(", ", DraftExperts.Types.Keys)}) or a make-draft file", DefaultValueFactory = _ => "q4_0" };
        var rooflinePlot = new Option<string>("--roofline-plot") { Description = "with --speculate: draw the governor's Amortization Roofline at the first budget to this .svg or .png" };
        var promptFile = new Option<string>("--prompt-file", "-f") { Description = "with --speculate: text prompts, one per line (warm-up after the first, -n timed tokens after each); default: pseudo-random tokens" };
        var linkSweep = new Option<string>("--link-sweep") { Description = "with --speculate on the host tier: link bandwidths (GB/s) at which to compare the governor with every fixed k at the first budget", DefaultValueFactory = _ => "" };
        var command = new Command("bench", "measure prefill and decode throughput against the memory-bandwidth limit");
        common.AddTo(command);
        foreach (var o in new Option[] { prompt, decode, reps, json, warmup, sweep, speculate, budgets, maxK, draftExperts, linkSweep, promptFile, rooflinePlot }) command.Options.Add(o);
        command.SetAction(p =>
        {
            int pp = p.GetValue(prompt), tg = p.GetValue(decode), r = p.GetValue(reps);
            if (pp < 1 || tg < 1 || r < 1) throw new ArgumentException("--prompt, --n-gen and --repetitions must be positive");
            int threads = common.ThreadCount(p);
            var experts = common.Experts(p);
            if (p.GetValue(speculate))
            {
                int w = p.GetValue(warmup), k = p.GetValue(maxK);
                string? plot = p.GetValue(rooflinePlot) is { Length: > 0 } plotPath ? plotPath : null;
                if (plot is not null) RooflinePlot.CheckPath(plot);
                if (w < 0) throw new ArgumentException($"--warmup {w} must not be negative");
                SpeculationOptions.Parse("auto", k);
                string draftText = p.GetValue(draftExperts)!;
                DraftExpertsSource draftSource;
                try
                {
                    draftSource = DraftExpertsSource.Parse(draftText);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"--draft-experts {e.Message}", e);
                }
                var budgetList = List(p.GetValue(budgets)!).Select(ExpertBudget.Parse).ToArray();
                if (budgetList.Length == 0) throw new ArgumentException("--budgets lists no budget");
                var links = List(p.GetValue(linkSweep)!).Select(v => double.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out double g) && g > 0 && g < 1e6
                    ? g : throw new ArgumentException($"--link-sweep {v}: expected a positive number of GB/s")).ToArray();
                SpeculationTrace? replay = null;
                if (experts.Options.RoutingReplay is { } replayPath)
                {
                    if (!SpeculationTrace.IsSpeculationTrace(replayPath))
                        throw new ArgumentException($"--routing-replay {replayPath}: bench --speculate replays a recorded self-draft run; record one with `run --speculate N --trace FILE`");
                    replay = SpeculationTrace.Load(replayPath);
                    if (k > replay.MaxDepth) throw new ArgumentException($"--routing-replay {replayPath} drafted {replay.MaxDepth} tokens per cycle; --max-k {k} cannot be replayed from it");
                }
                var settings = new SpeculativeBenchmark.Settings(Math.Min(pp, 16), w, tg, experts.Options.Predictor is "none" ? "gate-lookahead:1" : experts.Options.Predictor,
                    budgetList, k, draftSource, replay, experts.Options.RoutingReplay, links,
                    p.GetValue(promptFile) is { Length: > 0 } file ? [.. File.ReadLines(file).Where(line => line.Trim().Length > 0)] : []);
                string path = common.ModelPath(p);
                var options = common.Options(p, threads, Math.Max(p.GetValue(common.Batch), k + 1));
                var report = SpeculativeBenchmark.Run(path, options, experts.Options, settings, line => Console.Error.WriteLine($"bench: {line}"));
                SpeculativeReport.Write(Console.Out, Path.GetFileName(path), report, settings, p.GetValue(json));
                if (plot is not null && report.Rows.FirstOrDefault(r => r.Roofline is not null) is { Roofline: { } roofline } governed)
                {
                    RooflinePlot.Save(plot, $"{Path.GetFileName(path)}: Amortization Roofline, {governed.Group}, link {roofline.LinkBytesPerSecond / 1e9:G3} GB/s measured",
                        roofline.Predicted, roofline.Measured, roofline.ChosenDepth, roofline.LinkBytesPerSecond);
                    Console.Error.WriteLine($"bench: roofline written to {plot}");
                }
                return 0;
            }
            if (experts.Options.Offloads)
            {
                int w = p.GetValue(warmup);
                if (w < 0) throw new ArgumentException($"--warmup {w} must not be negative");
                var sweepBudgets = List(p.GetValue(sweep)!).Select(ExpertBudget.Parse).ToArray();
                // Decode is what offloading changes; a short prompt only fills the KV cache it attends to.
                var settings = new OffloadBenchmark.Settings(Math.Min(pp, 16), w, tg, experts.Options.Predictor is "none" ? "gate-lookahead:1" : experts.Options.Predictor,
                    experts.Options.Budget, sweepBudgets, p.GetResult(reps) is { Implicit: false } ? r : 1);
                string path = common.ModelPath(p);
                var options = common.Options(p, threads, p.GetValue(common.Batch));
                var report = OffloadBenchmark.Run(rt => ModelLoader.Load(path, rt.Attach(options)), experts, settings, line => Console.Error.WriteLine($"bench: {line}"));
                OffloadReport.Write(Console.Out, Path.GetFileName(path), report, settings, p.GetValue(json));
                return 0;
            }
            // Prefill runs as one batch, as llama-bench does with its default batch of 512 or more.
            using var model = ModelProgress.Load(common.ModelPath(p), experts.Attach(common.Options(p, threads, Math.Max(pp, p.GetValue(common.Batch)))));
            var result = ThroughputBenchmark.Run(model, pp, tg, r);
            string name = Path.GetFileName(model.File.Path);
            string cell = Markup.Escape(name);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["model"] = name,
                    ["threads"] = result.Threads,
                    ["prompt_tokens"] = pp,
                    ["prefill_tokens_per_second"] = result.PrefillTokensPerSecond,
                    ["decode_tokens"] = tg,
                    ["decode_tokens_per_second"] = result.DecodeTokensPerSecond,
                    ["decode_bytes_per_token"] = result.DecodeBytesPerToken,
                    ["read_bandwidth_bytes_per_second"] = result.ReadBandwidth,
                    ["decode_limit_tokens_per_second"] = result.DecodeLimit,
                    ["fraction_of_limit"] = result.FractionOfLimit,
                }));
                return 0;
            }
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
            var table = new Table().AddColumn("model").AddColumn("size").AddColumn("threads").AddColumn("test")
                .AddColumn(new TableColumn("t/s").RightAligned()).AddColumn(new TableColumn("bandwidth limit t/s").RightAligned()).AddColumn(new TableColumn("of limit").RightAligned());
            string size = InspectCommand.Bytes(model.File.Length);
            table.AddRow(cell, size, $"{result.Threads}", $"pp{pp}", $"{result.PrefillTokensPerSecond:F2}", "", "");
            table.AddRow(cell, size, $"{result.Threads}", $"tg{tg}", $"{result.DecodeTokensPerSecond:F2}", $"{result.DecodeLimit:F2}", $"{result.FractionOfLimit:P0}");
            console.Write(table);
            console.WriteLine($"decode reads {InspectCommand.Bytes(result.DecodeBytesPerToken)} of weights per token; measured read bandwidth {result.ReadBandwidth / 1e9:F2} GB/s");
            if (experts.Options.Offloads) console.WriteLine(experts.Summary);
            return 0;
        });
        return command;
    }

    static string[] List(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}

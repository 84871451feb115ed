using System.CommandLine;
using System.Text.Json;
using MoeSpeq.Cli.Benchmarks;
using MoeSpeq.Experts;
using MoeSpeq.Inference;
using MoeSpeq.Model;
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
        var reps = new Option<int>("--repetitions", "-r") { Description = "timed repetitions (best is reported)", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var warmup = new Option<int>("--warmup") { Description = "offloaded: untimed decode steps before the timed ones", DefaultValueFactory = _ => 8 };
        var sweep = new Option<string>("--sweep") { Description = "offloaded: further budgets for the lookahead-aware + predictor run", DefaultValueFactory = _ => "100%,50%,25%,12.5%" };
        var command = new Command("bench", "measure prefill and decode throughput against the memory-bandwidth limit");
        common.AddTo(command);
        foreach (var o in new Option[] { prompt, decode, reps, json, warmup, sweep }) command.Options.Add(o);
        command.SetAction(p =>
        {
            int pp = p.GetValue(prompt), tg = p.GetValue(decode), r = p.GetValue(reps);
            if (pp < 1 || tg < 1 || r < 1) throw new ArgumentException("--prompt, --n-gen and --repetitions must be positive");
            int threads = p.GetValue(common.Threads);
            var experts = common.Experts(p);
            if (experts.Options.Offloads)
            {
                int w = p.GetValue(warmup);
                if (w < 0) throw new ArgumentException($"--warmup {w} must not be negative");
                var budgets = p.GetValue(sweep)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ExpertBudget.Parse).ToArray();
                // Decode is what offloading changes; a short prompt only fills the KV cache it attends to.
                var settings = new OffloadBenchmark.Settings(Math.Min(pp, 16), w, tg, experts.Options.Predictor is "none" ? "gate-lookahead:1" : experts.Options.Predictor,
                    experts.Options.Budget, budgets);
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
}

using System.CommandLine;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>run</c>: generates text from a prompt, streaming it to stdout; a stats line goes to stderr.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var common = new CommonOptions(modelRequired: false);
        var prompt = new Option<string>("--prompt", "-p") { Description = "prompt text (default: start from BOS alone)", DefaultValueFactory = _ => "" };
        var count = new Option<int>("--n-predict", "-n") { Description = "tokens to generate", DefaultValueFactory = _ => 128 };
        var defaults = new SamplerOptions();
        var temp = new Option<float>("--temp") { Description = "temperature; 0 is greedy", DefaultValueFactory = _ => defaults.Temperature };
        var topK = new Option<int>("--top-k") { Description = "keep the k most likely tokens; 0 keeps all", DefaultValueFactory = _ => defaults.TopK };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling mass; 1 disables", DefaultValueFactory = _ => defaults.TopP };
        var minP = new Option<float>("--min-p") { Description = "drop tokens below this fraction of the best one's probability", DefaultValueFactory = _ => defaults.MinP };
        var repeat = new Option<float>("--repeat-penalty") { Description = "penalty for recently seen tokens; 1 disables", DefaultValueFactory = _ => defaults.RepeatPenalty };
        var repeatLastN = new Option<int>("--repeat-last-n") { Description = "how many recent tokens the penalty considers", DefaultValueFactory = _ => defaults.RepeatLastN };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "sampling seed (default: random, printed in the stats line)" };
        var promptFile = new Option<string>("--prompt-file", "-f") { Description = "generate after each non-empty line of this file in turn (instead of --prompt); the stats cover them all" };
        var expertStats = new Option<bool>("--expert-stats") { Description = "with an offloaded tier, also print the predictor's precision and recall per layer" };
        var command = new Command("run", "generate text from a prompt (default model: the bundled demo)");
        common.AddTo(command);
        common.AddSpeculationTo(command);
        foreach (var o in new Option[] { prompt, promptFile, count, temp, topK, topP, minP, repeat, repeatLastN, seed, expertStats }) command.Options.Add(o);
        command.SetAction(p =>
        {
            int n = p.GetValue(count);
            if (n < 0) throw new ArgumentException($"--n-predict {n} must not be negative");
            ulong seedValue = p.GetValue(seed) ?? (ulong)Random.Shared.NextInt64();
            var sampling = new SamplerOptions
            {
                Temperature = p.GetValue(temp),
                TopK = p.GetValue(topK),
                TopP = p.GetValue(topP),
                MinP = p.GetValue(minP),
                RepeatPenalty = p.GetValue(repeat),
                RepeatLastN = p.GetValue(repeatLastN),
                Seed = seedValue,
            };
            sampling.Validate();

            using var model = common.Load(p, out var experts, out var speculation);
            using var draft = speculation?.Draft;
            var tokenizer = Tokenizer.FromGguf(model.File.Header);
            var generator = new Generator(model, tokenizer, common.ContextLength(p, model), speculation);
            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                cancel.Cancel();
            };
            string[] prompts = p.GetValue(promptFile) is { Length: > 0 } file
                ? [.. File.ReadLines(file).Where(line => line.Trim().Length > 0)]
                : [p.GetValue(prompt)!];
            if (prompts.Length == 0) throw new ArgumentException($"--prompt-file {p.GetValue(promptFile)} has no non-empty line");
            GenerationResult? result = null;
            foreach (string text in prompts)
            {
                Console.Out.Write(text);
                Console.Out.Flush();
                try
                {
                    var one = generator.Generate(text, n, sampling, piece =>
                    {
                        Console.Out.Write(piece);
                        Console.Out.Flush();
                    }, cancel.Token);
                    result = result is null ? one : result with
                    {
                        PromptTokens = result.PromptTokens + one.PromptTokens,
                        GeneratedTokens = result.GeneratedTokens + one.GeneratedTokens,
                        PrefillSeconds = result.PrefillSeconds + one.PrefillSeconds,
                        DecodeSeconds = result.DecodeSeconds + one.DecodeSeconds,
                        Stop = one.Stop,
                    };
                }
                finally
                {
                    Console.Out.WriteLine();
                }
            }
            var total = result!;
            Console.Error.WriteLine(
                $"prefill: {total.PromptTokens} tokens, {total.PrefillTokensPerSecond:F1} tok/s | " +
                $"decode: {total.GeneratedTokens} tokens, {total.DecodeTokensPerSecond:F1} tok/s | " +
                $"stop: {total.Stop} | threads: {model.Pool.ThreadCount} | seed: {seedValue}");
            if (experts.Options.Offloads)
            {
                var stats = experts.Stats.Snapshot();
                Console.Error.WriteLine($"{experts.Summary}\n{stats}");
                if (p.GetValue(expertStats)) Console.Error.WriteLine(stats.PerLayerText());
            }
            if (speculation is not null)
            {
                Console.Error.WriteLine($"{speculation.Draft.Description}\n{experts.Stats.Speculation.Snapshot()}");
                if (experts.Cache is { } cache)
                    Console.Error.WriteLine($"expert memory: cache {cache.SlotCount * cache.SlotBytes / 1e6:F1} MB + draft {speculation.Draft.ResidentBytes / 1e6:F1} MB = " +
                        $"{(cache.SlotCount * cache.SlotBytes + speculation.Draft.ResidentBytes) / 1e6:F1} MB");
            }
            if (speculation?.Governor?.Report() is { } governor)
                Console.Error.WriteLine($"governor: k* = {governor.Depth}; predicted {governor.PredictedThroughput:F1} tok/s at k*, " +
                    $"forecast {governor.ForecastThroughput:F1} vs measured {governor.MeasuredThroughput:F1} tok/s over the last {governor.Cycles} cycles");
            if (common.SaveTrace(p, experts, speculation) is { } saved) Console.Error.WriteLine(saved);
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// <c>eval</c>: evaluates token ids in one batch and writes the logits of every position (float32 little-endian
/// [n_tokens, n_vocab]); with <c>--greedy N</c> it then continues greedily one token per pass, like a decode loop.
/// On Linux its JSON also gives the RSS before the model loaded and the peak RSS from there to the end.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var common = new CommonOptions(modelRequired: true);
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids", Required = true };
        var logitsOut = new Option<string>("--logits-out") { Description = "file for the logits of every position" };
        var greedy = new Option<int>("--greedy") { Description = "greedy continuation length" };
        var command = new Command("eval", "evaluate token ids; write every position's logits and an optional greedy continuation");
        common.AddTo(command);
        command.Options.Add(tokens);
        command.Options.Add(logitsOut);
        command.Options.Add(greedy);
        command.SetAction(p =>
        {
            int[] ids = ParseIds(p.GetValue(tokens)!);
            int greedyCount = p.GetValue(greedy);
            if (greedyCount < 0) throw new ArgumentException($"--greedy {greedyCount} must not be negative");
            // The memory a run costs is measured from here: what the runtime itself holds before loading is its baseline.
            long? baseline = ProcessMemory.Resident;
            ProcessMemory.ResetPeak();
            using var model = common.Load(p, out var experts);
            int vocab = model.Config.VocabSize;
            var state = model.CreateState(Math.Max(common.ContextLength(p, model), ids.Length + greedyCount));
            var logits = new float[ids.Length * vocab];
            model.Evaluate(state, ids, logits, allLogits: true);
            if (p.GetValue(logitsOut) is { } path)
            {
                using var f = File.Create(path);
                f.Write(MemoryMarshal.AsBytes(logits.AsSpan()));
            }

            var continuation = new List<int>();
            var row = logits.AsSpan((ids.Length - 1) * vocab, vocab).ToArray();
            for (int i = 0; i < greedyCount; i++)
            {
                int next = TensorPrimitives.IndexOfMax(row);
                continuation.Add(next);
                if (i + 1 < greedyCount) model.Evaluate(state, [next], row, allLogits: false);
            }
            if (common.SaveTrace(p, experts) is { } saved) Console.Error.WriteLine(saved);
            var report = new Dictionary<string, object>
            {
                ["n_tokens"] = ids.Length,
                ["n_vocab"] = vocab,
                ["greedy"] = continuation,
            };
            if (baseline is long before && ProcessMemory.Peak is long peak)
            {
                report["rss_before_load_bytes"] = before;
                report["peak_rss_bytes"] = peak;
            }
            Console.Out.WriteLine(JsonSerializer.Serialize(report));
            return 0;
        });
        return command;
    }

    static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("--tokens lists no token ids");
        return [.. parts.Select(s => int.TryParse(s, out int v) && v >= 0 ? v : throw new ArgumentException($"--tokens: \"{s}\" is not a token id"))];
    }
}

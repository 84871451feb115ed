using System.CommandLine;
using MoeSpeq.Speculative;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// <c>make-draft -m TARGET --type T -o DRAFT</c>: converts every routed expert of the target to a low-bit type once
/// and writes them to a file that <c>--draft-experts DRAFT</c> then reads at load instead of converting again.
/// </summary>
public static class MakeDraftCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "the target GGUF model (MoE)", Required = true };
        var type = new Option<string>("--type")
        {
            Description = $"draft expert type: {string.Join(", ", DraftExperts.Types.Keys)} (rows that are not whole blocks of it fall back to q4_0, then f16)",
            DefaultValueFactory = _ => "q4_0",
        };
        var output = new Option<string>("--output", "-o") { Description = "the draft-experts GGUF to write", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "conversion threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("make-draft", "write the self-draft's low-bit experts of a model to a file, for --draft-experts FILE");
        foreach (var o in new Option[] { model, type, output, threads }) command.Options.Add(o);
        command.SetAction(p =>
        {
            string typeName = p.GetValue(type)!;
            if (!DraftExperts.Types.TryGetValue(typeName, out var t))
                throw new ArgumentException($"--type {typeName}: choose from {string.Join(", ", DraftExperts.Types.Keys)}");
            int n = p.GetValue(threads);
            if (n < 1 || n > 1024) throw new ArgumentException($"--threads {n} must be in 1..1024");
            string from = p.GetValue(model)!, to = p.GetValue(output)!;
            DraftExpertsFile.Summary summary = null!;
            ModelProgress.Track("converting experts", progress => summary = DraftExpertsFile.Make(from, t, to, n, progress));
            var fallbacks = summary.UsedTypes.Where(u => u != summary.RequestedType).Order().ToArray();
            Console.Error.WriteLine($"converted {summary.Experts} experts of {summary.MoeLayers} layers to {summary.RequestedType}" +
                (fallbacks.Length == 0 ? "" : $" ({string.Join(", ", fallbacks)} where rows are not whole {summary.RequestedType} blocks)"));
            Console.Error.WriteLine($"wrote {to} ({new FileInfo(to).Length:N0} bytes)");
            return 0;
        });
        return command;
    }
}

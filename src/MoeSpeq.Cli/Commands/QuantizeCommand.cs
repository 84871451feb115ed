using System.CommandLine;
using MoeSpeq.Model.Tools;
using MoeSpeq.Tensors;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>quantize IN OUT --type T</c>: rewrites a model's weight matrices in another type.</summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "source GGUF" };
        var output = new Argument<string>("output") { Description = "destination GGUF" };
        var type = new Option<string>("--type") { Description = "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, F16 or BF16", Required = true };
        var command = new Command("quantize", "rewrite a model with its weight matrices in another type");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.Options.Add(type);
        command.SetAction(p =>
        {
            var target = ParseType(p.GetValue(type)!);
            IReadOnlyList<ModelQuantizer.Decision> decisions = [];
            ModelProgress.Track("quantizing", progress => decisions = ModelQuantizer.Quantize(p.GetValue(input)!, p.GetValue(output)!, target, progress));
            foreach (var group in decisions.Where(d => d.Reason is not null && d.From != d.To).GroupBy(d => (d.To, d.Reason)))
                Console.Error.WriteLine($"{group.Count()} tensors -> {group.Key.To}: {group.Key.Reason}");
            Console.Error.WriteLine($"wrote {p.GetValue(output)} ({new FileInfo(p.GetValue(output)!).Length:N0} bytes)");
            return 0;
        });
        return command;
    }

    public static GgmlType ParseType(string text) =>
        Enum.TryParse<GgmlType>(text.Trim(), ignoreCase: true, out var t) && Enum.IsDefined(t) && (ModelQuantizer.TargetTypes.Contains(t) || t == GgmlType.F32)
            ? t
            : throw new ArgumentException($"--type \"{text}\" is not one of {string.Join(", ", ModelQuantizer.TargetTypes)}");
}

using System.CommandLine;
using MoeSpeq.Model.Tools;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>make-model</c>: writes a deterministic random-weight llama model of a chosen shape, for benchmarks.</summary>
public static class MakeModelCommand
{
    public static Command Create()
    {
        var d = new RandomModelSpec();
        var arch = new Option<string>("--arch") { Description = "llama-moe (Mixtral-style) or llama (dense)", DefaultValueFactory = _ => "llama-moe" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => d.Layers };
        var dim = new Option<int>("--dim") { DefaultValueFactory = _ => d.Dim };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => d.Heads };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => d.KvHeads };
        var experts = new Option<int>("--experts") { DefaultValueFactory = _ => d.Experts };
        var used = new Option<int>("--experts-used") { DefaultValueFactory = _ => d.ExpertsUsed };
        var ffn = new Option<int>("--ffn") { DefaultValueFactory = _ => d.Ffn };
        var vocab = new Option<int>("--vocab") { DefaultValueFactory = _ => d.Vocab };
        var ctx = new Option<int>("--ctx") { Description = "context_length written to the file", DefaultValueFactory = _ => d.ContextLength };
        var type = new Option<string>("--type") { DefaultValueFactory = _ => "Q8_0" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1UL };
        var output = new Option<string>("--output", "-o") { Required = true };
        var preset = new Option<string?>("--preset")
        {
            Description = $"write a published model's true shapes instead ({string.Join(", ", ModelPreset.Names)}); --layers cuts its layer count, --type sets the expert weight type",
        };
        var command = new Command("make-model", "write a deterministic random-weight model for benchmarks");
        foreach (var o in new Option[] { preset, arch, layers, dim, heads, kvHeads, experts, used, ffn, vocab, ctx, type, seed, output }) command.Options.Add(o);
        command.SetAction(p =>
        {
            if (p.GetValue(preset) is { } presetName)
            {
                var shapes = ModelPreset.Find(presetName);
                var result = p.GetResult(layers);
                int? cut = result is null || result.Implicit ? null : p.GetValue(layers);
                var typeResult = p.GetResult(type);
                string? typeText = typeResult is null || typeResult.Implicit ? null : p.GetValue(type)!;
                // MXFP4 is a preset's expert type (gpt-oss ships it) though it is no target of the quantizer.
                Tensors.GgmlType? expertType = typeText is null ? null
                    : typeText.Trim().Equals("mxfp4", StringComparison.OrdinalIgnoreCase) ? Tensors.GgmlType.MXFP4 : QuantizeCommand.ParseType(typeText);
                string presetPath = p.GetValue(output)!;
                ModelProgress.Track("writing", progress => PresetModelWriter.Write(shapes, presetPath, cut, expertType, p.GetValue(seed), progress));
                Console.Error.WriteLine($"wrote {presetPath} ({new FileInfo(presetPath).Length:N0} bytes): {shapes.Name}, {cut ?? shapes.Layers} of {shapes.Layers} layers");
                return 0;
            }
            string a = p.GetValue(arch)!;
            if (a is not ("llama-moe" or "llama")) throw new ArgumentException($"--arch \"{a}\" must be llama-moe or llama");
            var spec = new RandomModelSpec
            {
                Layers = p.GetValue(layers),
                Dim = p.GetValue(dim),
                Heads = p.GetValue(heads),
                KvHeads = p.GetValue(kvHeads),
                Experts = a == "llama" ? 0 : p.GetValue(experts),
                ExpertsUsed = p.GetValue(used),
                Ffn = p.GetValue(ffn),
                Vocab = p.GetValue(vocab),
                ContextLength = p.GetValue(ctx),
                Type = QuantizeCommand.ParseType(p.GetValue(type)!),
                Seed = p.GetValue(seed),
            };
            string path = p.GetValue(output)!;
            ModelProgress.Track("writing", progress => RandomModelWriter.Write(spec, path, progress));
            Console.Error.WriteLine($"wrote {path} ({new FileInfo(path).Length:N0} bytes)");
            return 0;
        });
        return command;
    }
}

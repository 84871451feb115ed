using System.CommandLine;
using MoeSpeq.Model.Tools;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>repack IN OUT</c>: rewrites an MoE model with each expert's matrices contiguous and 4096-aligned, one read per expert.</summary>
public static class RepackCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "source GGUF with stacked experts (blk.N.ffn_*_exps)" };
        var output = new Argument<string>("output") { Description = "destination GGUF with a tensor per expert (blk.N.ffn_*.E), each expert 4096-aligned" };
        var command = new Command("repack", "rewrite an MoE model so each expert's gate, up and down matrices are one aligned read");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.SetAction(p =>
        {
            string from = p.GetValue(input)!, to = p.GetValue(output)!;
            ModelRepacker.Result result = null!;
            ModelProgress.Track("repacking", progress => result = ModelRepacker.Repack(from, to, progress));
            Console.Error.WriteLine($"repacked {result.Experts} experts of {result.MoeLayers} layers, a tensor per expert matrix ({result.TensorsWritten} tensors in all)");
            Console.Error.WriteLine($"wrote {to} ({new FileInfo(to).Length:N0} bytes)");
            return 0;
        });
        return command;
    }
}

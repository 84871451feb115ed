using System.CommandLine;
using MoeSpeq.Formats;
using MoeSpeq.Model.HuggingFace;
using MoeSpeq.Tensors;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// <c>export-hf IN.gguf DIR</c>: writes a GGUF model as a Hugging Face directory (config.json, safetensors shards with
/// their index, tokenizer.json) through the name table read backwards; <c>-m DIR</c> then loads it like the GGUF file.
/// </summary>
public static class ExportHfCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "source GGUF model (llama/Mixtral, qwen2moe, qwen3moe or deepseek2 architecture)" };
        var output = new Argument<string>("output") { Description = "directory to write config.json, model*.safetensors and tokenizer.json into" };
        var shardSize = new Option<string>("--shard-size") { Description = "largest shard, e.g. 5GB or 512MiB; 0 writes one model.safetensors", DefaultValueFactory = _ => "5GB" };
        var type = new Option<string>("--type") { Description = "write every tensor as f32, f16 or bf16 (default: keep F32/F16/BF16 tensors, dequantize others to F32)" };
        var command = new Command("export-hf", "write a GGUF model as a Hugging Face model directory (config.json, safetensors, tokenizer.json)");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.Options.Add(shardSize);
        command.Options.Add(type);
        command.SetAction(p =>
        {
            var options = new HfWriteOptions
            {
                MaxShardBytes = ParseSize(p.GetValue(shardSize)!),
                Type = p.GetValue(type) switch
                {
                    null => null,
                    var t when t.Equals("f32", StringComparison.OrdinalIgnoreCase) => GgmlType.F32,
                    var t when t.Equals("f16", StringComparison.OrdinalIgnoreCase) => GgmlType.F16,
                    var t when t.Equals("bf16", StringComparison.OrdinalIgnoreCase) => GgmlType.BF16,
                    var t => throw new ArgumentException($"--type {t}: choose f32, f16 or bf16"),
                },
            };
            string to = p.GetValue(output)!;
            var result = HfDirectoryWriter.Write(p.GetValue(input)!, to, options);
            Console.Error.WriteLine($"wrote {result.Tensors} tensors ({result.Bytes:N0} bytes) in {result.Shards} shard{(result.Shards == 1 ? "" : "s")} to {to}");
            return 0;
        });
        return command;
    }

    static long ParseSize(string text) => ByteSize.TryParse(text, out long bytes)
        ? bytes
        : throw new ArgumentException($"--shard-size {text}: expected a size such as 5GB or 512MiB, or 0 for one file");
}

using System.CommandLine;
using System.Globalization;
using System.Text;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>perplexity</c>: llama-perplexity-compatible perplexity of a text file; the last line is <c>PPL = value</c>.</summary>
public static class PerplexityCommand
{
    public static Command Create()
    {
        var common = new CommonOptions(modelRequired: true);
        var file = new Option<string>("--file", "-f") { Description = "text file", Required = true };
        var command = new Command("perplexity", "perplexity of a text, scored as llama-perplexity does");
        common.AddTo(command);
        command.Options.Add(file);
        command.SetAction(p =>
        {
            string text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(File.ReadAllBytes(p.GetValue(file)!));
            int requested = p.GetValue(common.Context);
            using var model = common.Load(p, out var experts);
            // llama-perplexity's default context is 512; a model trained on less is scored at its own length.
            int ctx = requested > 0 ? requested : Math.Min(512, model.Config.ContextLength);
            var tokenizer = Tokenizer.FromGguf(model.File.Header);
            var tokens = tokenizer.Encode(text, addSpecial: true, parseSpecial: false);
            Console.Error.WriteLine($"{tokens.Count} tokens, {tokens.Count / ctx} chunks of {ctx}");
            var result = Perplexity.Compute(model, tokens.ToArray(), ctx, tokenizer.AddBos ? tokenizer.BosId : null,
                (chunk, chunks, ppl) => Console.Error.Write(string.Create(CultureInfo.InvariantCulture, $"[{chunk + 1}]{ppl:F4},")));
            Console.Error.WriteLine();
            if (common.SaveTrace(p, experts) is { } saved) Console.Error.WriteLine(saved);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"PPL = {result.Value:F4} +/- {result.StandardError:F5} ({result.ScoredTokens} tokens scored in {result.Chunks} chunks)"));
            return 0;
        });
        return command;
    }
}

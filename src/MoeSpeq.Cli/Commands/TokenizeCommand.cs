using System.CommandLine;
using System.Text;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// <c>tokenize</c>: prints the ids of a text exactly as given (a file's bytes are not trimmed). Only the vocabulary
/// is read, so vocab-only GGUF files work; a Hugging Face directory's tokenizer.json is read as the converter would
/// write it into a GGUF file.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF file with a vocabulary, or a Hugging Face model directory", Required = true };
        var text = new Option<string>("--text") { Description = "text to tokenize" };
        var file = new Option<string>("--file", "-f") { Description = "file whose UTF-8 text is tokenized" };
        var addSpecial = new Option<bool>("--add-special") { Description = "add BOS/EOS as the vocabulary asks" };
        var parseSpecial = new Option<bool>("--parse-special") { Description = "turn special-token texts in the input into their ids" };
        var command = new Command("tokenize", "print the token ids of a text");
        foreach (var o in new Option[] { model, text, file, addSpecial, parseSpecial }) command.Options.Add(o);
        command.SetAction(p =>
        {
            string input = (p.GetValue(text), p.GetValue(file)) switch
            {
                ({ } t, null) => t,
                (null, { } f) => new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(File.ReadAllBytes(f)),
                _ => throw new ArgumentException("give exactly one of --text and --file"),
            };
            using var gguf = ModelLoader.OpenFile(p.GetValue(model)!);
            var tokenizer = Tokenizer.FromGguf(gguf.Header);
            var ids = tokenizer.Encode(input, p.GetValue(addSpecial), p.GetValue(parseSpecial));
            Console.Out.WriteLine(string.Join(' ', ids));
            return 0;
        });
        return command;
    }
}

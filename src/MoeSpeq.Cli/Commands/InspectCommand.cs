using System.CommandLine;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;
using MoeSpeq.Tensors;
using Spectre.Console;

namespace MoeSpeq.Cli.Commands;

/// <summary><c>inspect</c>: metadata, the tensor table, and how many bytes are routed experts versus resident weights.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF file or Hugging Face model directory", Required = true };
        var command = new Command("inspect", "show a model's metadata, tensors and expert bytes (a directory as the GGUF file a converter would write)");
        command.Options.Add(model);
        command.SetAction(p =>
        {
            using var file = ModelLoader.OpenFile(p.GetValue(model)!);
            var h = file.Header;
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });

            string kind = Directory.Exists(file.Path)
                ? $"Hugging Face directory of {file.Files.Count} safetensors file{(file.Files.Count == 1 ? "" : "s")}, read as GGUF v{h.Version}"
                : $"GGUF v{h.Version}";
            var meta = new Table().Title(Markup.Escape($"{Path.GetFileName(Path.TrimEndingDirectorySeparator(file.Path))}: {kind}, {h.Metadata.Count} keys, alignment {h.Alignment}"))
                .AddColumn("key").AddColumn("type").AddColumn("value");
            foreach (var key in h.MetadataKeys)
            {
                var v = h.Metadata[key];
                string shown = v.Value is GgufArray a ? Preview(a) : v.ToString();
                meta.AddRow(Markup.Escape(key), v.Type.ToString(), Markup.Escape(shown.Length > 80 ? shown[..77] + "..." : shown));
            }
            console.Write(meta);

            bool stored = h.Tensors.Any(t => t.Origin is not null);
            var tensors = new Table().AddColumn("tensor").AddColumn("shape (ne0 first)").AddColumn("type").AddColumn(new TableColumn("bytes").RightAligned());
            if (stored) tensors.AddColumn("stored as");
            long expertBytes = 0, otherBytes = 0;
            foreach (var t in h.Tensors)
            {
                string[] row = [Markup.Escape(t.Name), Markup.Escape(t.ShapeText), t.Type.ToString(), t.ByteSize.ToString("N0")];
                if (stored) row = [.. row, Markup.Escape((t.Origin ?? "") + (t.Rearrangement is null ? "" : ", rearranged at load"))];
                tensors.AddRow(row);
                if (TensorNames.IsRoutedExpert(t.Name)) expertBytes += t.ByteSize;
                else otherBytes += t.ByteSize;
            }
            console.Write(tensors);

            var byType = h.Tensors.GroupBy(t => t.Type).Select(g => $"{g.Key}: {g.Count()}");
            console.WriteLine($"tensors: {h.Tensors.Count} ({string.Join(", ", byType)})");
            console.WriteLine($"routed expert bytes: {Bytes(expertBytes)}; resident (non-expert) bytes: {Bytes(otherBytes)}; file: {Bytes(file.Length)}");
            if (MoeSummary.Of(h) is { } moe) console.Write(moe.ToTable(expertBytes, otherBytes));
            return 0;
        });
        return command;
    }

    static string Preview(GgufArray a)
    {
        var items = a.Items.Cast<object>().Take(6).Select(o => o is GgufArray n ? n.ToString() : Convert.ToString(o, System.Globalization.CultureInfo.InvariantCulture));
        return $"[{a.ElementType} × {a.Count}] " + string.Join(", ", items) + (a.Count > 6 ? ", ..." : "");
    }

    public static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };
}

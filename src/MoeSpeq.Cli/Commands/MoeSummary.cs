using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;
using Spectre.Console;

namespace MoeSpeq.Cli.Commands;

/// <summary>
/// What an offloading budget is sized against, read from any MoE architecture's header alone: routed and shared
/// experts per layer, how many a token uses, the bytes of one expert and the split between expert and resident bytes.
/// </summary>
sealed record MoeSummary(string Architecture, int Layers, int MoeLayers, int Experts, int ExpertsUsed, string SharedExperts, long BytesPerExpert)
{
    public static MoeSummary? Of(GgufHeader h)
    {
        if (h.GetString("general.architecture") is not { } arch) return null;
        long experts = h.GetInt($"{arch}.expert_count") ?? 0;
        if (experts <= 0) return null;
        int layers = (int)(h.GetInt($"{arch}.block_count") ?? 0);
        var perLayer = Enumerable.Range(0, layers)
            .Select(l => h.Tensors.Where(t => t.Name.StartsWith($"blk.{l}.", StringComparison.Ordinal) && TensorNames.IsRoutedExpert(t.Name)).Sum(t => t.ByteSize))
            .ToArray();
        int moeLayers = perLayer.Count(b => b > 0);
        long bytesPerExpert = moeLayers == 0 ? 0 : perLayer.First(b => b > 0) / experts;

        // DeepSeek counts shared experts of the routed width; Qwen2-MoE has one of its own width.
        string shared = "none";
        if (h.GetInt($"{arch}.expert_shared_count") is long n && n > 0)
            shared = $"{n} × {h.GetInt($"{arch}.expert_feed_forward_length")} wide";
        else if (h.Tensors.Any(t => t.Name.EndsWith(".ffn_gate_shexp.weight", StringComparison.Ordinal)))
            shared = $"1 × {h.GetInt($"{arch}.expert_shared_feed_forward_length")?.ToString() ?? "?"} wide" + (h.Tensors.Any(t => t.Name.EndsWith(".ffn_gate_inp_shexp.weight", StringComparison.Ordinal)) ? ", sigmoid-gated" : "");
        return new(arch, layers, moeLayers, (int)experts, (int)(h.GetInt($"{arch}.expert_used_count") ?? 0), shared, bytesPerExpert);
    }

    public Table ToTable(long expertBytes, long residentBytes)
    {
        var table = new Table().Title(Markup.Escape($"mixture of experts ({Architecture})")).AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("layers with routed experts", $"{MoeLayers} of {Layers}");
        table.AddRow("experts per layer", Experts.ToString());
        table.AddRow("experts used per token", ExpertsUsed.ToString());
        table.AddRow("shared experts", Markup.Escape(SharedExperts));
        table.AddRow("bytes per expert (gate+up+down)", InspectCommand.Bytes(BytesPerExpert));
        table.AddRow("routed expert bytes", InspectCommand.Bytes(expertBytes));
        table.AddRow("resident bytes", InspectCommand.Bytes(residentBytes));
        table.AddRow("expert bytes a token reads", InspectCommand.Bytes(BytesPerExpert * ExpertsUsed * MoeLayers));
        return table;
    }
}

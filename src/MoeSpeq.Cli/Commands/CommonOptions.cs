using System.CommandLine;
using MoeSpeq.Model;

namespace MoeSpeq.Cli.Commands;

/// <summary>Options shared by every command that loads a model, so they read the same everywhere.</summary>
public sealed class CommonOptions
{
    public Option<string> Model { get; }
    public Option<int> Threads { get; } = new("--threads", "-t")
    {
        Description = "compute threads (default: all cores)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };
    public Option<int> Context { get; } = new("--ctx-size", "-c")
    {
        Description = "context length in tokens (default: the model's, at most 4096)",
    };
    public Option<int> Batch { get; } = new("--batch-size", "-b")
    {
        Description = "positions per forward pass during prompt processing",
        DefaultValueFactory = _ => 128,
    };

    public Option<bool> Mmap { get; } = new("--mmap")
    {
        Description = "read weights through the file mapping instead of loading them into memory (faster start; the OS may evict pages between tokens)",
    };

    public CommonOptions(bool modelRequired)
    {
        Model = new Option<string>("--model", "-m")
        {
            Description = modelRequired ? "GGUF model file" : $"GGUF model file (default: the bundled demo model)",
            Required = modelRequired,
        };
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Threads);
        command.Options.Add(Context);
        command.Options.Add(Batch);
        command.Options.Add(Mmap);
    }

    public string ModelPath(ParseResult p) => p.GetValue(Model) is { Length: > 0 } m ? m : DemoModel.Path;

    public LanguageModel Load(ParseResult p)
    {
        int threads = p.GetValue(Threads);
        int batch = p.GetValue(Batch);
        if (threads < 1 || threads > 1024) throw new ArgumentException($"--threads {threads} must be in 1..1024");
        if (batch < 1 || batch > 8192) throw new ArgumentException($"--batch-size {batch} must be in 1..8192");
        return ModelProgress.Load(ModelPath(p), Options(p, threads, batch));
    }

    /// <summary>The load options these flags describe.</summary>
    public ModelOptions Options(ParseResult p, int threads, int maxBatch) => new()
    {
        Threads = threads,
        MaxBatch = maxBatch,
        Placement = p.GetValue(Mmap) ? WeightPlacement.Map : WeightPlacement.Load,
    };

    /// <summary>The context to allocate: the option, else the model's trained context capped at 4096.</summary>
    public int ContextLength(ParseResult p, LanguageModel model)
    {
        int requested = p.GetValue(Context);
        if (requested < 0) throw new ArgumentException($"--ctx-size {requested} must be positive");
        return requested > 0 ? requested : Math.Min(model.Config.ContextLength, 4096);
    }
}

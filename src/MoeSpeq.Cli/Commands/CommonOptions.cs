using System.CommandLine;
using MoeSpeq.Experts;
using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model;
using MoeSpeq.Speculative;

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

    public Option<string> SlowTier { get; } = new("--slow-tier")
    {
        Description = "where routed experts live: resident (loaded with the model), disk (read on demand into the expert cache) or host (held in RAM, served over an emulated link)",
        DefaultValueFactory = _ => "resident",
    };
    public Option<string> ExpertCache { get; } = new("--expert-cache")
    {
        Description = "expert cache budget for an offloaded tier: a size (2GiB, 512MB), a share of all experts (25%), or min (one layer's experts: on-demand loading)",
        DefaultValueFactory = _ => "25%",
    };
    public Option<string> CachePolicy { get; } = new("--cache-policy")
    {
        Description = $"expert cache eviction policy: {string.Join(", ", EvictionPolicies.Names)}",
        DefaultValueFactory = _ => "lookahead",
    };
    public Option<string> Predictor { get; } = new("--predictor")
    {
        Description = "expert prefetch predictor: none, gate-lookahead[:DEPTH[:EXTRA]], history[:EXTRA]",
        DefaultValueFactory = _ => "gate-lookahead:1",
    };
    public Option<int> IoThreads { get; } = new("--io-threads")
    {
        Description = "parallel expert reads from the slow tier",
        DefaultValueFactory = _ => 4,
    };

    public Option<string> Trace { get; } = new("--trace")
    {
        Description = "record every routed-expert access (token, layer, experts, weights, router distributions) to this file, for `trace analyze` and --routing-replay",
    };
    public Option<string> RoutingReplay { get; } = new("--routing-replay")
    {
        Description = "take expert choices from a trace recorded on a trained model, mapped onto this model's layers and experts (benchmarks on random-weight models)",
    };
    public Option<double> LinkBandwidth { get; } = new("--link-bandwidth")
    {
        Description = "bandwidth of the host tier's emulated link, GB/s",
        DefaultValueFactory = _ => new OffloadOptions().LinkBandwidthGBps,
    };
    public Option<double> LinkLatency { get; } = new("--link-latency")
    {
        Description = "latency of each transfer over the host tier's emulated link, µs",
        DefaultValueFactory = _ => new OffloadOptions().LinkLatencyMicroseconds,
    };

    public Option<string> Speculate { get; } = new("--speculate")
    {
        Description = "speculative decoding: off, a fixed draft depth k (1..--max-k), or auto (the Amortization Roofline governor picks k)",
        DefaultValueFactory = _ => "off",
    };
    public Option<int> MaxK { get; } = new("--max-k")
    {
        Description = "the deepest draft the governor may choose",
        DefaultValueFactory = _ => 8,
    };
    public Option<string> DraftExperts { get; } = new("--draft-experts")
    {
        Description = $"the self-draft's experts: a type to build them in at load from the target's ({string.Join(", ", Speculative.DraftExperts.Types.Keys)}), or a file written by make-draft from this target",
        DefaultValueFactory = _ => "q4_0",
    };

    public Option<string> Draft { get; } = new("--draft")
    {
        Description = "a separate draft model (GGUF, the target's vocabulary) instead of the self-draft; the target's experts are forecast from token statistics gathered online",
    };

    public CommonOptions(bool modelRequired)
    {
        Model = new Option<string>("--model", "-m")
        {
            Description = modelRequired ? "GGUF model file or Hugging Face model directory" : $"GGUF model file or Hugging Face model directory (default: the bundled demo model)",
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
        foreach (var o in new Option[] { SlowTier, ExpertCache, CachePolicy, Predictor, IoThreads, LinkBandwidth, LinkLatency, Trace, RoutingReplay }) command.Options.Add(o);
    }

    /// <summary>Adds the speculation flags, for the commands that generate.</summary>
    public void AddSpeculationTo(Command command)
    {
        command.Options.Add(Speculate);
        AddDraftTo(command);
    }

    /// <summary>Adds the draft flags without --speculate, for commands that always let the governor choose k (<see cref="LoadGoverned"/>).</summary>
    public void AddDraftTo(Command command)
    {
        foreach (var o in new Option[] { MaxK, DraftExperts, Draft }) command.Options.Add(o);
    }

    /// <summary>The expert runtime the offloading flags describe (resident when --slow-tier is).</summary>
    public ExpertRuntime Experts(ParseResult p)
    {
        string tier = p.GetValue(SlowTier)!;
        if (!SlowTiers.Names.Contains(tier)) throw new ArgumentException($"--slow-tier {tier}: choose from {string.Join(", ", SlowTiers.Names)}");
        string policy = p.GetValue(CachePolicy)!;
        if (!EvictionPolicies.Names.Contains(policy)) throw new ArgumentException($"--cache-policy {policy}: choose from {string.Join(", ", EvictionPolicies.Names)}");
        int io = p.GetValue(IoThreads);
        if (io < 1 || io > 256) throw new ArgumentException($"--io-threads {io} must be in 1..256");
        // Checked whatever the tier, so a bad value is an error at once rather than once someone picks host.
        var link = new EmulatedLink(p.GetValue(LinkBandwidth), p.GetValue(LinkLatency));
        var options = new OffloadOptions
        {
            SlowTier = tier,
            Budget = ExpertBudget.Parse(p.GetValue(ExpertCache)!),
            Policy = policy,
            Predictor = p.GetValue(Predictor)!,
            IoThreads = io,
            RecordTrace = p.GetValue(Trace) is { Length: > 0 },
            RoutingReplay = p.GetValue(RoutingReplay) is { Length: > 0 } replay ? replay : null,
            LinkBandwidthGBps = link.BandwidthGBps,
            LinkLatencyMicroseconds = link.LatencyMicroseconds,
        };
        return new ExpertRuntime(options, (catalog, path) => SlowTiers.Open(options, catalog, path));
    }

    /// <summary>Writes the recorded trace to the --trace file, if one was asked for; returns a line saying so, or null.</summary>
    public string? SaveTrace(ParseResult p, ExpertRuntime experts, SpeculativeDecoding? speculation = null)
    {
        if (p.GetValue(Trace) is not { Length: > 0 } path) return null;
        var trace = experts.FinishTrace() ?? throw new InvalidOperationException("--trace: the model has no routed experts to trace");
        string saved = $"{trace.TokenCount} tokens in {trace.Steps.Count} forward passes × {trace.Shape.MoeLayerCount} MoE layers";
        if (speculation?.Hook is SpeculationRecorder recorder)
        {
            var run = recorder.Finish(trace);
            run.Save(path);
            return $"speculation trace: {run.Cycles.Count} cycles; target {saved}; draft {run.Draft.TokenCount} passes; written to {path}";
        }
        trace.Save(path);
        return $"trace: {saved} written to {path}";
    }

    public string ModelPath(ParseResult p) => p.GetValue(Model) is { Length: > 0 } m ? m : DemoModel.Path;

    public LanguageModel Load(ParseResult p) => Load(p, out _);

    /// <summary>Loads the model with the offloading flags applied; <paramref name="experts"/> holds the live expert stats.</summary>
    public LanguageModel Load(ParseResult p, out ExpertRuntime experts)
    {
        var (threads, batch) = ComputeSizes(p);
        experts = Experts(p);
        return ModelProgress.Load(ModelPath(p), experts.Attach(Options(p, threads, batch)));
    }

    /// <summary>
    /// Loads the model as <see cref="Load(ParseResult, out ExpertRuntime)"/> does and, when --speculate asks for it,
    /// with its draft: the self-draft (experts built at load or read from a make-draft file), or the --draft model;
    /// <paramref name="speculation"/> is null when decoding is plain.
    /// </summary>
    public LanguageModel Load(ParseResult p, out ExpertRuntime experts, out SpeculativeDecoding? speculation) =>
        Load(p, SpeculationOptions.Parse(p.GetValue(Speculate)!, p.GetValue(MaxK)), out experts, out speculation);

    /// <summary>Loads the model with its draft and the governor choosing k up to --max-k, as <c>--speculate auto</c> would.</summary>
    public LanguageModel LoadGoverned(ParseResult p, out ExpertRuntime experts, out SpeculativeDecoding speculation)
    {
        var model = Load(p, SpeculationOptions.Parse("auto", p.GetValue(MaxK)), out experts, out var governed);
        speculation = governed!;
        return model;
    }

    LanguageModel Load(ParseResult p, SpeculationOptions options, out ExpertRuntime experts, out SpeculativeDecoding? speculation)
    {
        var draftExperts = ParseDraftExperts(p);
        if (!options.Enabled)
        {
            speculation = null;
            return Load(p, out experts);
        }
        var (threads, batch) = ComputeSizes(p);
        experts = Experts(p);
        int depth = options.Auto ? options.MaxDepth : options.Depth;
        string? draftPath = p.GetValue(Draft) is { Length: > 0 } d ? d : null;
        SpeculationTrace? replay = null;
        if (experts.Options.RoutingReplay is { } replayPath)
        {
            // The draft's routing must foresee the replayed target's as the recorded draft's did: both come from the recording.
            if (draftPath is not null || !SpeculationTrace.IsSpeculationTrace(replayPath))
                throw new ArgumentException($"--routing-replay with --speculate replays a recorded self-draft run: record one with `run --speculate N --trace FILE`, and drop --draft");
            replay = SpeculationTrace.Load(replayPath);
            if (depth > replay.MaxDepth)
                throw new ArgumentException($"--routing-replay {replayPath} drafted {replay.MaxDepth} tokens per cycle; --speculate/--max-k {depth} cannot be replayed from it");
            experts = experts.With(experts.Options with { RoutingReplay = null });
        }
        var modelOptions = experts.Attach(Options(p, threads, Math.Max(batch, options.MaxDepth + 1)));
        var selfDraft = draftPath is null ? new SelfDraftBuilder(draftExperts, depth, experts) { Replay = replay } : null;
        var modelDraft = draftPath is null ? null : new ModelDraftBuilder(depth, experts);
        var model = ModelProgress.Load(ModelPath(p), selfDraft?.Attach(modelOptions) ?? modelDraft!.Attach(modelOptions));
        try
        {
            // The draft model gets its own options: the target's carry the target's expert executor.
            IDraft draft = selfDraft is not null ? selfDraft.Create(model)
                : modelDraft!.Create(model, draftPath!, Options(p, threads, Math.Min(batch, 32)), ContextLength(p, model));
            speculation = new SpeculativeDecoding(draft, options, experts) { Hook = selfDraft?.Hook };
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    DraftExpertsSource ParseDraftExperts(ParseResult p)
    {
        string text = p.GetValue(DraftExperts)!;
        try
        {
            return DraftExpertsSource.Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--draft-experts: {e.Message}", e);
        }
    }

    /// <summary>--threads, checked.</summary>
    public int ThreadCount(ParseResult p)
    {
        int threads = p.GetValue(Threads);
        if (threads < 1 || threads > 1024) throw new ArgumentException($"--threads {threads} must be in 1..1024");
        return threads;
    }

    (int Threads, int Batch) ComputeSizes(ParseResult p)
    {
        int threads = ThreadCount(p);
        int batch = p.GetValue(Batch);
        if (batch < 1 || batch > 8192) throw new ArgumentException($"--batch-size {batch} must be in 1..8192");
        return (threads, batch);
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

using System.Diagnostics;
using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Prediction;
using MoeSpeq.Experts.Replay;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Experts;

/// <summary>
/// Plugs the tiered expert store into a model at load: <see cref="Attach"/> returns model options whose expert
/// executor serves routed experts from a slow tier through a budgeted cache, with the chosen policy and
/// predictor. Holds the live <see cref="Stats"/> and, once the model is loaded, what was built (<see cref="Summary"/>).
/// Around whichever executor serves the experts it can record a <see cref="Trace"/> of every access and replace the
/// model's routing with a replayed one (<see cref="OffloadOptions.RoutingReplay"/>): model → replay → trace → executor.
/// </summary>
public sealed class ExpertRuntime
{
    readonly OffloadOptions _options;
    readonly Func<ExpertCatalog, string, ISlowTier> _openTier;

    /// <param name="openTier">Opens the slow tier for a catalog and model path; tests inject faulty tiers here.</param>
    public ExpertRuntime(OffloadOptions options, Func<ExpertCatalog, string, ISlowTier> openTier)
    {
        _options = options;
        _openTier = openTier;
    }

    public OffloadOptions Options => _options;

    /// <summary>A fresh runtime over the same slow tier with other options (benchmarks compare several on one model).</summary>
    public ExpertRuntime With(OffloadOptions options) => new(options, _openTier);
    public ExpertStats Stats { get; } = new();

    /// <summary>The cache, once the model is loaded.</summary>
    public ExpertCache? Cache { get; private set; }
    public ExpertCatalog? Catalog { get; private set; }
    public ISlowTier? Tier { get; private set; }
    public ExpertOrchestrator? Orchestrator { get; private set; }
    /// <summary>The trace being recorded, when <see cref="OffloadOptions.RecordTrace"/>.</summary>
    public ExpertTrace? Trace => _tracer?.Trace;
    /// <summary>The routing being replayed, when <see cref="OffloadOptions.RoutingReplay"/>.</summary>
    public RoutingReplay? Replay { get; private set; }
    /// <summary>Where a speculative draft's lookahead sends its prefetches: the offloaded executor, once loaded; null when experts are resident.</summary>
    public IPrefetchSink? PrefetchSink { get; private set; }

    TracingExpertExecutor? _tracer;

    /// <summary>Model options that route experts through this runtime (unchanged when it has nothing to do).</summary>
    public ModelOptions Attach(ModelOptions model) => !_options.Intercepts ? model : model with
    {
        LoadExperts = !_options.Offloads,
        ExpertExecutor = layout => Build(layout, model.MaxBatch),
    };

    /// <summary>Closes the trace's last forward pass and stamps the slow tier's measured bandwidth; returns the trace.</summary>
    public ExpertTrace? FinishTrace()
    {
        if (_tracer is null) return null;
        _tracer.Finish();
        if (Tier is not null && Catalog is not null) _tracer.Trace.LinkBytesPerSecond = MeasureLinkBandwidth();
        return _tracer.Trace;
    }

    /// <summary>
    /// Aggregate bandwidth of the slow tier, bytes/s: experts read by all I/O threads at once into scratch memory,
    /// as the orchestrator reads them, timed by the wall clock. Reads up to <paramref name="maxBytes"/>.
    /// </summary>
    public unsafe double MeasureLinkBandwidth(long maxBytes = 256L << 20)
    {
        if (Tier is not { } tier || Catalog is not { } catalog) throw new InvalidOperationException("no slow tier is attached");
        int threads = _options.IoThreads;
        int experts = (int)Math.Clamp(maxBytes / catalog.SlotBytes, threads, catalog.ExpertCount);
        var keys = Enumerable.Range(0, catalog.Layers).Where(catalog.IsMoeLayer)
            .SelectMany(l => Enumerable.Range(0, catalog.ExpertsPerLayer).Select(e => new ExpertKey(l, e))).ToArray();
        using var scratch = new WeightArena(threads * catalog.SlotBytes);
        byte* memory = scratch.Allocate(threads * catalog.SlotBytes);
        scratch.Populate(); // time the link, not the first touch of the scratch pages
        long next = -1, bytes = 0;
        long t0 = Stopwatch.GetTimestamp();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, worker =>
        {
            byte* slot = memory + worker * catalog.SlotBytes;
            for (long i; (i = Interlocked.Increment(ref next)) < experts;)
            {
                // Spread over the layers so consecutive reads are not adjacent in the file.
                var key = keys[i * 7919 % keys.Length];
                foreach (var read in catalog.ReadsOf(key))
                {
                    tier.Read(read.File, read.FileOffset, read.Length, slot + read.SlotOffset, CancellationToken.None);
                    Interlocked.Add(ref bytes, read.Length);
                }
            }
        });
        return bytes / Math.Max(Stopwatch.GetElapsedTime(t0).TotalSeconds, 1e-9);
    }

    /// <summary>One line for stats output: tier, budget, slots, policy, predictor.</summary>
    public string Summary => (Replay is null ? "" : Replay.Describe() + "\n") + (Cache is null || Catalog is null || Tier is null
        ? "experts resident"
        : $"experts: {Tier.Description}; cache {Cache.SlotCount} slots × {Cache.SlotBytes / 1e6:F2} MB = {Cache.SlotCount * Cache.SlotBytes / 1e6:F1} MB " +
          $"({(double)Cache.SlotCount / Catalog.ExpertCount:P1} of {Catalog.ExpertCount} experts), policy {Cache.PolicyName}, predictor {_options.Predictor}");

    IExpertExecutor Build(ExpertLayout layout, int maxBatch)
    {
        var c = layout.Config;
        int[] moeLayers = [.. Enumerable.Range(0, layout.Layers.Length).Where(l => layout.Layers[l].Length > 0)];
        if (_options.RoutingReplay is { } replayPath)
            Replay = new RoutingReplay(SpeculationTrace.LoadRouting(replayPath), layout.Layers.Length, moeLayers, c.ExpertCount, c.ExpertUsedCount);
        IExpertExecutor executor = _options.Offloads
            ? BuildOffloaded(layout, maxBatch)
            : layout.ResidentExecutor(maxBatch);
        if (_options.RecordTrace)
        {
            // A replayed run's router probabilities are the random model's, meaningless: such a trace keeps the choices only.
            bool probabilities = Replay is null;
            var e0 = layout.Layers[moeLayers[0]][0];
            var shape = new TraceShape(Path.GetFileName(layout.File.Path), layout.Layers.Length, moeLayers, c.ExpertCount, c.ExpertUsedCount,
                probabilities, probabilities ? _options.TraceLookaheadDepth : 0, e0.Gate.ByteLength + e0.Up.ByteLength + e0.Down.ByteLength);
            executor = _tracer = new TracingExpertExecutor(executor, new ExpertTrace(shape), probabilities ? layout.Routers : null, Stats);
        }
        if (Replay is not null) executor = new ReplayingExpertExecutor(executor, Replay);
        return executor;
    }

    IExpertExecutor BuildOffloaded(ExpertLayout layout, int maxBatch)
    {
        var c = layout.Config;
        ISlowTier? tier = null;
        ExpertCache? cache = null;
        try
        {
            // The tier fixes the alignment, the alignment the slot size, the slot size the slot count.
            var probe = new ExpertCatalog(layout, 1);
            tier = _openTier(probe, layout.File.Path);
            var catalog = tier.Alignment == 1 ? probe : new ExpertCatalog(layout, tier.Alignment);
            // A share is a share of the experts, counted in slots: 25% caches a quarter of them however far the tier's
            // alignment pads a slot beyond its expert's bytes (a lot, for experts of a few KiB), as trace analysis counts it.
            long budget = _options.Budget.Resolve((long)catalog.ExpertCount * catalog.SlotBytes, c.ExpertUsedCount * catalog.SlotBytes);
            int slots = (int)Math.Min(catalog.ExpertCount, budget / catalog.SlotBytes);
            if (slots < c.ExpertUsedCount)
                throw new ModelLoadException(
                    $"expert cache {_options.Budget} ({budget / 1e6:F1} MB) holds {slots} expert slots of {catalog.SlotBytes / 1e6:F2} MB; " +
                    $"one layer needs {c.ExpertUsedCount} at once: raise --expert-cache to at least {(double)c.ExpertUsedCount * catalog.SlotBytes / (1 << 20):F1}MiB");
            var policy = EvictionPolicies.Create(_options.Policy, catalog.Layers, catalog.ExpertsPerLayer, c.ExpertUsedCount);
            Stats.TrackLayers(catalog.Layers);
            cache = new ExpertCache(slots, catalog.SlotBytes, catalog.Layers, catalog.ExpertsPerLayer, policy, Stats, c.ExpertUsedCount);
            var predictor = CreatePredictor(_options.Predictor, layout, catalog, Replay);
            var orchestrator = new ExpertOrchestrator(cache, catalog, tier, _options.IoThreads, Stats, _options.PrefetchPieceBytes);
            (Catalog, Cache, Tier, Orchestrator) = (catalog, cache, tier, orchestrator);
            var executor = new OffloadedExpertExecutor(layout, catalog, cache, orchestrator, predictor, Stats, maxBatch * c.ExpertUsedCount);
            PrefetchSink = executor;
            return executor;
        }
        catch
        {
            cache?.Dispose();
            tier?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds a predictor from its name: <c>none</c>, <c>gate-lookahead[:DEPTH[:EXTRA]]</c>, <c>history[:EXTRA]</c>.
    /// Under routing replay gate look-ahead replays the recorded look-ahead, since the model's own routers do not route.
    /// </summary>
    public static IExpertPredictor? CreatePredictor(string spec, ExpertLayout layout, ExpertCatalog catalog, RoutingReplay? replay = null)
    {
        var parts = spec.Split(':');
        int Arg(int i, int fallback)
        {
            if (parts.Length <= i) return fallback;
            if (!int.TryParse(parts[i], out int v) || v < 0 || v > 64) throw new ArgumentException($"--predictor {spec}: \"{parts[i]}\" must be an integer in 0..64");
            return v;
        }
        int k = layout.Config.ExpertUsedCount;
        return parts[0] switch
        {
            "none" when parts.Length == 1 => null,
            "gate-lookahead" when parts.Length <= 3 && replay is not null =>
                new ReplayLookaheadPredictor(replay, layout.Config.ExpertCount, k, Math.Max(1, Arg(1, 1)), Arg(2, 0)),
            "gate-lookahead" when parts.Length <= 3 => new GateLookaheadPredictor(layout.Routers, k, Math.Max(1, Arg(1, 1)), Arg(2, 0)),
            "history" when parts.Length <= 2 => new HistoryPredictor(catalog.Layers, catalog.ExpertsPerLayer, catalog.IsMoeLayer, Arg(1, 0)),
            _ => throw new ArgumentException($"--predictor {spec}: expected none, gate-lookahead[:DEPTH[:EXTRA]] or history[:EXTRA]"),
        };
    }
}

using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Prediction;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts;

/// <summary>
/// Plugs the tiered expert store into a model at load: <see cref="Attach"/> returns model options whose expert
/// executor serves routed experts from a slow tier through a budgeted cache, with the chosen policy and
/// predictor. Holds the live <see cref="Stats"/> and, once the model is loaded, what was built (<see cref="Summary"/>).
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
    public ExpertStats Stats { get; } = new();

    /// <summary>The cache, once the model is loaded.</summary>
    public ExpertCache? Cache { get; private set; }
    public ExpertCatalog? Catalog { get; private set; }
    public ISlowTier? Tier { get; private set; }
    public ExpertOrchestrator? Orchestrator { get; private set; }

    /// <summary>Model options that route experts through this runtime (unchanged when the tier is resident).</summary>
    public ModelOptions Attach(ModelOptions model) => !_options.Offloads ? model : model with
    {
        LoadExperts = false,
        ExpertExecutor = layout => Build(layout, model.MaxBatch),
    };

    /// <summary>One line for stats output: tier, budget, slots, policy, predictor.</summary>
    public string Summary => Cache is null || Catalog is null || Tier is null
        ? $"experts resident"
        : $"experts: {Tier.Description}; cache {Cache.SlotCount} slots × {Cache.SlotBytes / 1e6:F2} MB = {Cache.SlotCount * Cache.SlotBytes / 1e6:F1} MB " +
          $"({(double)Cache.SlotCount / Catalog.ExpertCount:P1} of {Catalog.ExpertCount} experts), policy {Cache.PolicyName}, predictor {_options.Predictor}";

    IExpertExecutor Build(ExpertLayout layout, int maxBatch)
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
            long budget = _options.Budget.Resolve(catalog.TotalExpertBytes);
            int slots = (int)Math.Min(catalog.ExpertCount, budget / catalog.SlotBytes);
            if (slots < c.ExpertUsedCount)
                throw new ModelLoadException(
                    $"expert cache {_options.Budget} ({budget / 1e6:F1} MB) holds {slots} expert slots of {catalog.SlotBytes / 1e6:F2} MB; " +
                    $"one layer needs {c.ExpertUsedCount} at once: raise --expert-cache to at least {(double)c.ExpertUsedCount * catalog.SlotBytes / (1 << 20):F1}MiB");
            var policy = EvictionPolicies.Create(_options.Policy, catalog.Layers, catalog.ExpertsPerLayer);
            Stats.TrackLayers(catalog.Layers);
            cache = new ExpertCache(slots, catalog.SlotBytes, catalog.Layers, catalog.ExpertsPerLayer, policy, Stats);
            var predictor = CreatePredictor(_options.Predictor, layout, catalog);
            var orchestrator = new ExpertOrchestrator(cache, catalog, tier, _options.IoThreads, Stats);
            (Catalog, Cache, Tier, Orchestrator) = (catalog, cache, tier, orchestrator);
            return new OffloadedExpertExecutor(layout, catalog, cache, orchestrator, predictor, Stats, maxBatch * c.ExpertUsedCount);
        }
        catch
        {
            cache?.Dispose();
            tier?.Dispose();
            throw;
        }
    }

    /// <summary>Builds a predictor from its name: <c>none</c>, <c>gate-lookahead[:DEPTH[:EXTRA]]</c>, <c>history[:EXTRA]</c>.</summary>
    public static IExpertPredictor? CreatePredictor(string spec, ExpertLayout layout, ExpertCatalog catalog)
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
            "gate-lookahead" when parts.Length <= 3 => new GateLookaheadPredictor(layout.Routers, k, Math.Max(1, Arg(1, 1)), Arg(2, 0)),
            "history" when parts.Length <= 2 => new HistoryPredictor(catalog.Layers, catalog.ExpertsPerLayer, catalog.IsMoeLayer, Arg(1, 0)),
            _ => throw new ArgumentException($"--predictor {spec}: expected none, gate-lookahead[:DEPTH[:EXTRA]] or history[:EXTRA]"),
        };
    }
}

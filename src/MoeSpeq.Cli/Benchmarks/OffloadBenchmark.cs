using System.Diagnostics;
using System.Numerics.Tensors;
using MoeSpeq.Experts;
using MoeSpeq.Experts.Analysis;
using MoeSpeq.Model;

namespace MoeSpeq.Cli.Benchmarks;

/// <summary>
/// Decode throughput of one model under several expert-offloading configurations, each measured in the same run on
/// a freshly loaded model: on demand with no cache, LRU, LFU, lookahead-aware eviction, LRU and lookahead-aware
/// eviction with gate look-ahead prefetch, the oracle bound (Belady's MIN with perfect prefetch, from the LRU run's
/// own trace) and the lookahead-aware prefetching run at other budgets; with the model's own routing and,
/// given a trace of a trained model, with replayed routing.
/// </summary>
public static class OffloadBenchmark
{
    /// <summary>One configuration's decode figures; <see cref="Expected"/> marks a computed bound rather than a measurement.</summary>
    public sealed record Row(string Routing, string Configuration, string Budget, double TokensPerSecond, double HitRate,
        double StallMsPerToken, double BytesPerToken, bool Expected = false);

    public sealed record Settings(int PromptTokens, int WarmupTokens, int DecodeTokens, string Predictor, ExpertBudget Budget, ExpertBudget[] Sweep);

    public sealed record Report(IReadOnlyList<Row> Rows, double LinkBytesPerSecond, long ExpertBytesPerToken, string Tier);

    /// <param name="load">Loads the model with a runtime's options applied.</param>
    /// <param name="progress">Receives a line as each configuration starts.</param>
    public static Report Run(Func<ExpertRuntime, LanguageModel> load, ExpertRuntime template, Settings settings, Action<string> progress)
    {
        var rows = new List<Row>();
        double link = 0;
        long expertBytesPerToken = 0;
        string tier = "";
        var routings = new List<(string Name, string? Replay)> { ("model's own", null) };
        if (template.Options.RoutingReplay is { } replayPath) routings.Add(("replayed", replayPath));
        foreach (var (routing, replay) in routings)
        {
            var common = template.Options with { RoutingReplay = replay, RecordTrace = false };
            string budget = settings.Budget.ToString();

            Row Measure(string configuration, OffloadOptions options, string budgetLabel, out ExpertRuntime runtime)
            {
                progress($"{routing} routing: {configuration} at {budgetLabel}");
                runtime = template.With(options);
                using var model = load(runtime);
                if (link == 0)
                {
                    link = runtime.MeasureLinkBandwidth();
                    tier = runtime.Tier!.Description;
                    var c = model.Config;
                    expertBytesPerToken = (long)runtime.Catalog!.ExpertCount / runtime.Catalog.ExpertsPerLayer * c.ExpertUsedCount * runtime.Catalog.ExpertBytes;
                }
                var (seconds, stats) = Decode(model, runtime, settings);
                int n = settings.DecodeTokens;
                return new Row(routing, configuration, budgetLabel, n / seconds, stats.HitRate, stats.Stall.TotalMilliseconds / n, (double)stats.BytesRead / n);
            }

            // On demand: the smallest cache that can run a layer, no predictor; what is read is read again next token.
            var onDemand = Measure("on demand (no cache)", common with { Budget = ExpertBudget.OneLayer, Policy = "lru", Predictor = "none" }, "one layer", out _);
            rows.Add(onDemand);
            // On demand streams experts as decode really reads them: a truer link figure than the probe when the two differ.
            link = Math.Max(link, onDemand.BytesPerToken * onDemand.TokensPerSecond);
            var lru = Measure("LRU", common with { Budget = settings.Budget, Policy = "lru", Predictor = "none", RecordTrace = true }, budget, out var lruRuntime);
            rows.Add(lru);
            rows.Add(Measure("LFU", common with { Budget = settings.Budget, Policy = "lfu", Predictor = "none" }, budget, out _));
            rows.Add(Measure("lookahead-aware", common with { Budget = settings.Budget, Policy = "lookahead", Predictor = "none" }, budget, out _));
            rows.Add(Measure($"LRU + {settings.Predictor}", common with { Budget = settings.Budget, Policy = "lru", Predictor = settings.Predictor }, budget, out _));
            var best = $"lookahead-aware + {settings.Predictor}";
            rows.Add(Measure(best, common with { Budget = settings.Budget, Policy = "lookahead", Predictor = settings.Predictor }, budget, out _));
            rows.Add(Oracle(routing, lruRuntime, settings, link, budget));
            foreach (var b in settings.Sweep.Where(b => b != settings.Budget))
                rows.Add(Measure(best, common with { Budget = b, Policy = "lookahead", Predictor = settings.Predictor }, b.ToString(), out _));
        }
        return new Report(rows, link, expertBytesPerToken, tier);
    }

    /// <summary>Prefill, untimed warm-up decode, then the timed decode steps; greedy tokens, stats of the timed part only.</summary>
    static (double Seconds, ExpertStats.Values Stats) Decode(LanguageModel model, ExpertRuntime runtime, Settings s)
    {
        int vocab = model.Config.VocabSize;
        var state = model.CreateState(s.PromptTokens + s.WarmupTokens + s.DecodeTokens + 1);
        var prompt = BenchmarkPrompt.Tokens(s.PromptTokens, vocab);
        var logits = new float[vocab];
        model.Evaluate(state, prompt, logits, allLogits: false);
        for (int i = 0; i < s.WarmupTokens; i++) model.Evaluate(state, [TensorPrimitives.IndexOfMax(logits)], logits, allLogits: false);
        runtime.Stats.Reset();
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < s.DecodeTokens; i++) model.Evaluate(state, [TensorPrimitives.IndexOfMax(logits)], logits, allLogits: false);
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var stats = runtime.Stats.Snapshot();
        runtime.FinishTrace();
        return (seconds, stats);
    }

    /// <summary>Belady's MIN over the LRU run's trace at the same budget, with every read overlapped: T = max(compute, bytes / link).</summary>
    static Row Oracle(string routing, ExpertRuntime lruRun, Settings s, double link, string budget)
    {
        var trace = lruRun.Trace!;
        var accessList = new TraceAccesses(trace);
        var belady = CacheSimulator.Run(accessList, lruRun.Cache!.SlotCount, policy: null);
        // Only the timed steps count (the last DecodeTokens); the cache state they start from is the replay's own.
        int first = trace.Steps.Count - s.DecodeTokens;
        var bound = TraceAnalysis.Oracle(trace, belady, link, first);
        long accesses = 0, misses = 0;
        for (int g = 0; g < accessList.GroupCount; g++)
            if (accessList.GroupStep[g] >= first) accesses += accessList.GroupStart[g + 1] - accessList.GroupStart[g];
        for (int step = first; step < trace.Steps.Count; step++) misses += belady.MissesPerStep[step];
        long hits = accesses - misses;
        return new Row(routing, "oracle (Belady, perfect prefetch)", budget, bound.TokensPerSecond,
            accesses == 0 ? 0 : (double)hits / accesses, 0, bound.BytesPerToken, Expected: true);
    }
}

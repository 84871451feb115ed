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
    /// <summary>
    /// One configuration's decode figures, each the median over the rounds; <see cref="Expected"/> marks a computed
    /// bound rather than a measurement. <see cref="OverOnDemand"/> is the median of each round's ratio to that round's
    /// on-demand run, so drift of the slow tier between rounds cancels out of it.
    /// </summary>
    public sealed record Row(string Routing, string Configuration, string Budget, double TokensPerSecond, double HitRate,
        double StallMsPerToken, double BytesPerToken, double OverOnDemand, double[] RoundTokensPerSecond, bool Expected = false);

    /// <param name="Rounds">Passes over every configuration, in the same order each time.</param>
    public sealed record Settings(int PromptTokens, int WarmupTokens, int DecodeTokens, string Predictor, ExpertBudget Budget, ExpertBudget[] Sweep, int Rounds = 1);

    public sealed record Report(IReadOnlyList<Row> Rows, double LinkBytesPerSecond, long ExpertBytesPerToken, string Tier);

    /// <summary>A configuration's figures in one round.</summary>
    readonly record struct Sample(double TokensPerSecond, double HitRate, double StallMsPerToken, double BytesPerToken);

    /// <param name="load">Loads the model with a runtime's options applied.</param>
    /// <param name="progress">Receives a line as each configuration starts.</param>
    /// <remarks>
    /// A slow tier's speed drifts over minutes (a virtual disk by 10–30%), and one round measures its configurations
    /// one after another, so a single round can credit a configuration with the disk's good minute. Rounds visit the
    /// configurations in turn and every figure is a median, the ratios taken within each round.
    /// </remarks>
    public static Report Run(Func<ExpertRuntime, LanguageModel> load, ExpertRuntime template, Settings settings, Action<string> progress)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Rounds, 1);
        var rows = new List<Row>();
        double probe = 0;
        var links = new List<double>();
        long expertBytesPerToken = 0;
        string tier = "";
        var routings = new List<(string Name, string? Replay)> { ("model's own", null) };
        if (template.Options.RoutingReplay is { } replayPath) routings.Add(("replayed", replayPath));
        foreach (var (routing, replay) in routings)
        {
            var common = template.Options with { RoutingReplay = replay, RecordTrace = false };
            string budget = settings.Budget.ToString();
            string best = $"lookahead-aware + {settings.Predictor}";
            // On demand: the smallest cache that can run a layer, no predictor; what is read is read again next token.
            var configurations = new List<(string Name, OffloadOptions Options, string Budget)>
            {
                ("on demand (no cache)", common with { Budget = ExpertBudget.OneLayer, Policy = "lru", Predictor = "none" }, "one layer"),
                ("LRU", common with { Budget = settings.Budget, Policy = "lru", Predictor = "none", RecordTrace = true }, budget),
                ("LFU", common with { Budget = settings.Budget, Policy = "lfu", Predictor = "none" }, budget),
                ("lookahead-aware", common with { Budget = settings.Budget, Policy = "lookahead", Predictor = "none" }, budget),
                ($"LRU + {settings.Predictor}", common with { Budget = settings.Budget, Policy = "lru", Predictor = settings.Predictor }, budget),
                (best, common with { Budget = settings.Budget, Policy = "lookahead", Predictor = settings.Predictor }, budget),
            };
            int oracleAfter = configurations.Count - 1; // the bound's row follows the measured rows at the main budget
            foreach (var b in settings.Sweep.Where(b => b != settings.Budget))
                configurations.Add((best, common with { Budget = b, Policy = "lookahead", Predictor = settings.Predictor }, b.ToString()));

            var samples = configurations.Select(_ => new List<Sample>()).ToArray();
            var oracle = new List<Sample>();
            for (int round = 0; round < settings.Rounds; round++)
            {
                string of = settings.Rounds > 1 ? $" (round {round + 1} of {settings.Rounds})" : "";
                double link = probe;
                ExpertRuntime? lruRun = null;
                for (int c = 0; c < configurations.Count; c++)
                {
                    var (name, options, label) = configurations[c];
                    progress($"{routing} routing: {name} at {label}{of}");
                    var runtime = template.With(options);
                    using (var model = load(runtime))
                    {
                        if (probe == 0)
                        {
                            link = probe = runtime.MeasureLinkBandwidth();
                            tier = runtime.Tier!.Description;
                            expertBytesPerToken = (long)runtime.Catalog!.ExpertCount / runtime.Catalog.ExpertsPerLayer * model.Config.ExpertUsedCount * runtime.Catalog.ExpertBytes;
                        }
                        var (seconds, stats) = Decode(model, runtime, settings);
                        int n = settings.DecodeTokens;
                        samples[c].Add(new Sample(n / seconds, stats.HitRate, stats.Stall.TotalMilliseconds / n, (double)stats.BytesRead / n));
                    }
                    // On demand streams experts as decode really reads them: a truer link figure than the probe when the two differ.
                    if (c == 0) link = Math.Max(link, samples[0][^1].BytesPerToken * samples[0][^1].TokensPerSecond);
                    if (options.RecordTrace) lruRun = runtime;
                }
                links.Add(link);
                oracle.Add(Oracle(lruRun!, settings, link));
            }

            var onDemand = samples[0];
            for (int c = 0; c < configurations.Count; c++)
            {
                rows.Add(Summarise(routing, configurations[c].Name, configurations[c].Budget, samples[c], onDemand, expected: false));
                if (c == oracleAfter) rows.Add(Summarise(routing, "oracle (Belady, perfect prefetch)", budget, oracle, onDemand, expected: true));
            }
        }
        return new Report(rows, Median(links), expertBytesPerToken, tier);
    }

    static Row Summarise(string routing, string configuration, string budget, List<Sample> samples, List<Sample> onDemand, bool expected) =>
        new(routing, configuration, budget,
            Median(samples.Select(s => s.TokensPerSecond)),
            Median(samples.Select(s => s.HitRate)),
            Median(samples.Select(s => s.StallMsPerToken)),
            Median(samples.Select(s => s.BytesPerToken)),
            Median(samples.Select((s, round) => s.TokensPerSecond / onDemand[round].TokensPerSecond)),
            [.. samples.Select(s => s.TokensPerSecond)], expected);

    /// <summary>The middle value; the mean of the two middle values when the count is even.</summary>
    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values to take the median of", nameof(values));
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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
    static Sample Oracle(ExpertRuntime lruRun, Settings s, double link)
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
        return new Sample(bound.TokensPerSecond, accesses == 0 ? 0 : (double)hits / accesses, 0, bound.BytesPerToken);
    }
}

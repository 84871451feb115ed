using MoeSpeq.Experts;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.Speculative;
using MoeSpeq.Speculative.Governor;

namespace MoeSpeq.Cli.Benchmarks;

/// <summary>
/// Speculative decoding against offloading at equal memory, in the structure of MoE-SpeQ's Figure 13, every row a
/// freshly loaded model measured in the same run: (a) on demand with no cache; (b) LRU with gate look-ahead prefetch
/// at the same cache (SC) and at the same total memory, the draft's bytes given to the cache (SM); (c) the self-draft
/// at fixed depths k; (d) the governor choosing k. Rows are labelled by the memory they hold for experts (cache and
/// draft). Optionally the fixed depths and the governor again at other link bandwidths, to see how close the
/// governor comes to the best fixed depth.
/// </summary>
/// <remarks>
/// Speculative rows evict with the lookahead-aware policy and prefetch from the draft's lookahead buffer alone: the
/// gate look-ahead predictor would guess the same experts later and worse. With a recorded self-draft run to replay
/// (<see cref="Settings.Replay"/>), plain rows replay the routing of the tokens it kept and speculative rows replay
/// its cycles: draft routing, verified routing and acceptance.
/// </remarks>
public static class SpeculativeBenchmark
{
    /// <summary>One configuration's decode figures.</summary>
    /// <param name="Group">The memory budget or link bandwidth the row belongs to.</param>
    /// <param name="Kind">(a), (b)-SC, (b)-SM, (c) or (d).</param>
    public sealed record Row(string Group, string Kind, string Configuration, long CacheBytes, long DraftBytes, double TokensPerSecond,
        double HitRate, double StallMsPerToken, double BytesPerToken, double TokensPerCycle, double MeanDepth, GovernorReport? Governor,
        GovernorRoofline? Roofline)
    {
        public long TotalBytes => CacheBytes + DraftBytes;
    }

    /// <param name="Prompts">Text prompts: a warm-up generation after the first, then <see cref="DecodeTokens"/> timed
    /// tokens after each; none for fixed pseudo-random token prompts (random-weight models, whose text means nothing).</param>
    /// <summary>The governor's roofline as its run ended: the model's points, the measured ones, at the link it measured.</summary>
    public sealed record GovernorRoofline(IReadOnlyList<RooflinePoint> Predicted, IReadOnlyList<RooflinePoint> Measured, int ChosenDepth, double LinkBytesPerSecond);

    public sealed record Settings(int PromptTokens, int WarmupTokens, int DecodeTokens, string Predictor, ExpertBudget[] Budgets,
        int MaxDepth, DraftExpertsSource DraftExperts, SpeculationTrace? Replay, string? ReplayPath, double[] LinkSweepGBps, string[] Prompts);

    public sealed record Report(IReadOnlyList<Row> Rows, double LinkBytesPerSecond, long ExpertBytesPerToken, long TotalExpertBytes,
        double ComputeSecondsPerToken, string Tier, string DraftDescription, string? ReplayDescription);

    /// <param name="modelOptions">Threads, batch and placement; the batch must hold a cycle's k + 1 rows.</param>
    /// <param name="progress">Receives a line as each configuration starts.</param>
    public static Report Run(string path, ModelOptions modelOptions, OffloadOptions template, Settings settings, Action<string> progress)
    {
        if (!template.Offloads) throw new ArgumentException("bench --speculate compares offloading configurations: choose --slow-tier disk or host");
        var rows = new List<Row>();
        double link = 0, compute = 0;
        long expertBytesPerToken = 0, totalExpertBytes = 0;
        string tier = "", draftDescription = "", replayDescription = "";
        var greedy = new SamplerOptions { Temperature = 0 };
        var plainBase = template with { RoutingReplay = settings.ReplayPath, RecordTrace = false };
        var speculativeBase = template with { RoutingReplay = null, RecordTrace = false, Policy = "lookahead", Predictor = "none" };

        Row Measure(string group, string kind, string configuration, OffloadOptions options, SpeculationOptions? speculation)
        {
            progress($"{group}: {kind} {configuration}");
            var runtime = new ExpertRuntime(options, (catalog, file) => SlowTiers.Open(options, catalog, file));
            var draftBuilder = speculation is null ? null
                : new SelfDraftBuilder(settings.DraftExperts, speculation.Auto ? speculation.MaxDepth : speculation.Depth, runtime) { Replay = settings.Replay };
            var attached = runtime.Attach(modelOptions);
            using var model = ModelLoader.Load(path, draftBuilder?.Attach(attached) ?? attached);
            using var draft = draftBuilder?.Create(model);
            var decoding = draft is null ? null : new SpeculativeDecoding(draft, speculation!, runtime) { Hook = draftBuilder!.Hook };
            if (link == 0)
            {
                link = runtime.MeasureLinkBandwidth();
                tier = runtime.Tier!.Description;
                var catalog = runtime.Catalog!;
                totalExpertBytes = catalog.TotalExpertBytes;
                expertBytesPerToken = (long)catalog.ExpertCount / catalog.ExpertsPerLayer * model.Config.ExpertUsedCount * catalog.ExpertBytes;
                replayDescription = runtime.Replay?.Describe() ?? "";
            }
            if (draft is not null) draftDescription = draft.Description;
            if (draftBuilder?.Replaying is { } replaying) replayDescription = replaying.Description;

            var tokenizer = Tokenizer.FromGguf(model.File.Header);
            int vocab = model.Config.VocabSize;
            int[][] prompts = settings.Prompts.Length > 0
                ? [.. settings.Prompts.Select(text => tokenizer.Encode(text, addSpecial: true, parseSpecial: false).ToArray())]
                : [BenchmarkPrompt.Tokens(settings.PromptTokens, vocab, 0), BenchmarkPrompt.Tokens(settings.PromptTokens, vocab, 1)];
            int context = Math.Min(model.Config.ContextLength, prompts.Max(t => t.Length) + Math.Max(settings.WarmupTokens, settings.DecodeTokens) + settings.MaxDepth + 8);
            var generator = new Generator(model, tokenizer, context, decoding);
            if (settings.WarmupTokens > 0) generator.GenerateTokens(prompts[0], settings.WarmupTokens, greedy, _ => { });
            var sum = new Totals();
            foreach (var prompt in settings.Prompts.Length > 0 ? prompts : prompts[1..])
            {
                // Counters start at the first generated token, so the prompt's reads are not charged to decode.
                bool started = false;
                var result = generator.GenerateTokens(prompt, settings.DecodeTokens + 1, greedy, _ =>
                {
                    if (started) return;
                    started = true;
                    runtime.Stats.Reset();
                });
                sum.Add(result, runtime.Stats);
            }
            var cache = runtime.Cache!;
            return new Row(group, kind, configuration, (long)cache.SlotCount * cache.SlotBytes, draft?.ResidentBytes ?? 0, sum.Tokens / sum.Seconds,
                sum.HitRate, sum.StallSeconds * 1e3 / sum.Tokens, sum.BytesRead / sum.Tokens,
                sum.Cycles == 0 ? 1 : sum.CycleTokens / sum.Cycles, sum.Cycles == 0 ? 0 : sum.Drafted / sum.Cycles,
                decoding?.Governor?.Report(), decoding?.Governor is { } g ? new GovernorRoofline(g.Roofline(), g.MeasuredPoints(), g.BestDepth(), g.Costs.LinkBytesPerSecond) : null);
        }

        IEnumerable<Row> Speculative(string group, OffloadOptions options)
        {
            for (int k = 1; k <= settings.MaxDepth; k++)
                yield return Measure(group, "(c)", $"self-draft, k = {k}", options, SpeculationOptions.Parse($"{k}", settings.MaxDepth));
            yield return Measure(group, "(d)", "self-draft, governor (auto)", options, SpeculationOptions.Parse("auto", settings.MaxDepth));
        }

        foreach (var budget in settings.Budgets)
        {
            string group = $"cache {budget}";
            var onDemand = Measure(group, "(a)", "on demand (no cache)", plainBase with { Budget = ExpertBudget.OneLayer, Policy = "lru", Predictor = "none" }, null);
            link = Math.Max(link, onDemand.BytesPerToken * onDemand.TokensPerSecond);
            if (compute == 0) compute = Math.Max(1e-6, 1 / onDemand.TokensPerSecond - onDemand.StallMsPerToken / 1e3);
            var speculative = Speculative(group, speculativeBase with { Budget = budget }).ToList();
            long draftBytes = speculative[0].DraftBytes;
            string baseline = $"LRU + {settings.Predictor}";
            rows.Add(onDemand);
            rows.Add(Measure(group, "(b)-SC", baseline, plainBase with { Budget = budget, Policy = "lru", Predictor = settings.Predictor }, null));
            // Same total memory: the cache the speculative rows had, plus what their draft holds.
            var sameMemory = new ExpertBudget(speculative[0].CacheBytes + draftBytes, 0);
            rows.Add(Measure(group, "(b)-SM", baseline, plainBase with { Budget = sameMemory, Policy = "lru", Predictor = settings.Predictor }, null));
            rows.AddRange(speculative);
        }
        if (template.SlowTier == "host")
            foreach (double bandwidth in settings.LinkSweepGBps)
                rows.AddRange(Speculative($"link {bandwidth:G3} GB/s", speculativeBase with { Budget = settings.Budgets[0], LinkBandwidthGBps = bandwidth }));
        return new Report(rows, link, expertBytesPerToken, totalExpertBytes, compute, tier, draftDescription, replayDescription);
    }

    /// <summary>Decode figures summed over the timed generations.</summary>
    sealed class Totals
    {
        public double Tokens, Seconds, Hits, Accesses, StallSeconds, BytesRead, Cycles, CycleTokens, Drafted;
        public double HitRate => Accesses == 0 ? 0 : Hits / Accesses;

        public void Add(GenerationResult result, ExpertStats stats)
        {
            var io = stats.Snapshot();
            var spec = stats.Speculation.Snapshot();
            Tokens += Math.Max(0, result.GeneratedTokens - 1);
            Seconds += result.DecodeSeconds;
            Hits += io.Hits;
            Accesses += io.Accesses;
            StallSeconds += io.Stall.TotalSeconds;
            BytesRead += io.BytesRead;
            Cycles += spec.Cycles;
            CycleTokens += spec.Tokens;
            Drafted += spec.Drafted;
        }
    }
}

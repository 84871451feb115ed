using MoeSpeq.Experts.Eviction;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model.Layers;

namespace MoeSpeq.Experts.Analysis;

/// <summary>One budget of an analysis: its slots and each policy's replay, Belady's MIN among them.</summary>
public sealed record BudgetAnalysis(ExpertBudget Budget, long Bytes, int Slots, IReadOnlyList<SimulationResult> Results)
{
    public SimulationResult Of(string policy) => Results.First(r => r.Policy == policy);
}

/// <summary>
/// The decode-time lower bound of a run under perfect foresight: every expert read overlapped with compute, the
/// cache managed by Belady's MIN at the budget, so the time is bounded only by compute and by the link.
/// T = max(Σ compute, Σ missed bytes / link bandwidth) over the decode steps.
/// </summary>
public sealed record OracleBound(int DecodeTokens, double ComputeSeconds, long BytesRead, double LinkBytesPerSecond)
{
    public double LinkSeconds => LinkBytesPerSecond > 0 ? BytesRead / LinkBytesPerSecond : double.NaN;
    public double Seconds => Math.Max(ComputeSeconds, double.IsNaN(LinkSeconds) ? 0 : LinkSeconds);
    public double TokensPerSecond => DecodeTokens / Math.Max(Seconds, 1e-12);
    public double BytesPerToken => DecodeTokens == 0 ? 0 : (double)BytesRead / DecodeTokens;
    public string Limit => LinkSeconds > ComputeSeconds ? "link" : "compute";
}

/// <summary>Recall of the recorded look-ahead against the routing that followed, per MoE layer predicted.</summary>
/// <param name="Recall">[MoE layers] share of layer m's chosen experts that were in the top-<paramref name="Predicted"/>
/// of the look-ahead from layer m − depth (NaN for layers with no layer that far before them).</param>
public sealed record LookaheadRecall(int Depth, int Predicted, double[] Recall);

/// <summary>Offline replays of an <see cref="ExpertTrace"/>: hit rate per policy and budget, the oracle bound, look-ahead recall.</summary>
public static class TraceAnalysis
{
    /// <summary>Replays the trace under every policy named and Belady's MIN at every budget that holds one layer's experts.</summary>
    public static IReadOnlyList<BudgetAnalysis> HitRates(TraceAccesses accesses, IEnumerable<ExpertBudget> budgets, IReadOnlyList<string> policies)
    {
        var shape = accesses.Trace.Shape;
        long total = TotalExpertBytes(shape);
        var rows = new List<BudgetAnalysis>();
        foreach (var budget in budgets)
        {
            long bytes = budget.Resolve(total, shape.K * shape.ExpertBytes);
            int slots = (int)Math.Min((long)shape.MoeLayerCount * shape.Experts, bytes / Math.Max(1, shape.ExpertBytes));
            if (slots < shape.K)
                throw new ArgumentException($"budget {budget} holds {slots} experts; one layer needs {shape.K}");
            var results = policies
                .Select(p => CacheSimulator.Run(accesses, slots, EvictionPolicies.Create(p, shape.Layers, shape.Experts, shape.K)))
                .Append(CacheSimulator.Run(accesses, slots, policy: null))
                .ToArray();
            rows.Add(new BudgetAnalysis(budget, bytes, slots, results));
        }
        return rows;
    }

    public static long TotalExpertBytes(TraceShape shape) => (long)shape.MoeLayerCount * shape.Experts * shape.ExpertBytes;

    /// <summary>
    /// The oracle decode bound for a budget's Belady replay over the decode steps from <paramref name="firstStep"/> on;
    /// <paramref name="linkBytesPerSecond"/> ≤ 0 leaves the link unbounded.
    /// </summary>
    public static OracleBound Oracle(ExpertTrace trace, SimulationResult belady, double linkBytesPerSecond, int firstStep = 0)
    {
        int tokens = 0;
        double compute = 0;
        long misses = 0;
        for (int s = Math.Max(0, firstStep); s < trace.Steps.Count; s++)
        {
            var step = trace.Steps[s];
            if (!step.IsDecode) continue;
            tokens++;
            compute += step.ComputeSeconds;
            misses += belady.MissesPerStep[s];
        }
        return new OracleBound(tokens, compute, misses * trace.Shape.ExpertBytes, linkBytesPerSecond);
    }

    /// <summary>Per MoE layer, the recall of the top-<paramref name="predicted"/> experts of the look-ahead from <paramref name="depth"/> layers before.</summary>
    public static LookaheadRecall Lookahead(ExpertTrace trace, int depth, int predicted)
    {
        var shape = trace.Shape;
        if (!shape.HasProbabilities || depth < 1 || depth > shape.Depth)
            throw new ArgumentException($"the trace holds no look-ahead at depth {depth} (it holds depth {shape.Depth})");
        var top = new int[Math.Min(predicted, shape.Experts)];
        var recall = new double[shape.MoeLayerCount];
        for (int m = 0; m < shape.MoeLayerCount; m++)
        {
            if (m < depth)
            {
                recall[m] = double.NaN;
                continue;
            }
            long hit = 0, used = 0;
            for (int t = 0; t < trace.TokenCount; t++)
            {
                Router.TopK(trace.Lookahead(t, m - depth, depth), top);
                foreach (int e in trace.Ids(t, m))
                {
                    used++;
                    if (Array.IndexOf(top, e) >= 0) hit++;
                }
            }
            recall[m] = used == 0 ? double.NaN : (double)hit / used;
        }
        return new LookaheadRecall(depth, top.Length, recall);
    }
}

namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// Per-depth acceptance of the draft: p_j is the probability that the token drafted at depth j is accepted given that
/// depths 1..j−1 were, estimated from what verification reported and shrunk towards the acceptance pooled over all
/// depths.
/// </summary>
/// <remarks>
/// <para>The expected number of accepted draft tokens at depth k (the numerator of the MoE-SpeQ Amortization Roofline
/// throughput) is <c>k_accept(k) = Σ_{i=1..k} Π_{j≤i} p_j</c>: the tokens at depth i count only when every depth up
/// to i passed.</para>
/// <para>Depths are observed very unequally. Every speculative cycle tests depth 1, but depth j only when the cycle
/// drafted j deep and depths 1..j−1 all passed, so once the governor settles on a depth k*, the depths above it are
/// seen only in its occasional probes. A per-depth average alone would then hold whatever the first one or two
/// outcomes there said (one rejection at depth 6 reads as p_6 ≈ 0.5 when the draft passes 90% of the time), and a
/// product of such estimates talks the governor out of exactly the deep drafts it would need to measure to recover.
/// So each depth's estimate is its own exponentially discounted outcomes plus <c>w</c> pseudo-outcomes at the pooled
/// acceptance p̄, an EMA over every outcome at every depth:
/// <c>p_j = (a_j + w·p̄) / (n_j + w)</c>, where <c>n_j ← (1−α)·n_j + 1</c> and <c>a_j ← (1−α)·a_j + outcome</c>.
/// A depth with no outcomes is p̄; a depth observed every cycle carries up to 1/α outcomes, and its own evidence
/// dominates. The pooled mean itself starts as a running mean over its outcomes and a few pseudo-outcomes at the prior,
/// then runs as an EMA of factor α.</para>
/// </remarks>
public sealed class AcceptanceEstimate
{
    readonly double[] _accepted; // [maxDepth + 1]: discounted accepted outcomes per depth (index 0 unused)
    readonly double[] _outcomes; // [maxDepth + 1]: discounted outcomes per depth
    readonly double _alpha, _priorWeight, _poolWeight;
    double _pooled;
    int _pooledCount;
    int _deepestObserved;

    /// <param name="maxDepth">Largest depth that can be observed or queried.</param>
    /// <param name="prior">The pooled acceptance before any observation.</param>
    /// <param name="smoothing">EMA factor α: each outcome discounts the earlier ones of its depth (and the pooled mean) by 1 − α.</param>
    /// <param name="priorWeight">Pseudo-outcomes at the prior in the pooled mean while it is new.</param>
    /// <param name="poolWeight">Pseudo-outcomes at the pooled mean in every depth's estimate (w).</param>
    public AcceptanceEstimate(int maxDepth, double prior = 0.8, double smoothing = 0.05, double priorWeight = 2, double poolWeight = 6)
    {
        if (maxDepth < 1) throw new ArgumentException($"maxDepth {maxDepth} must be >= 1", nameof(maxDepth));
        if (!(prior >= 0 && prior <= 1)) throw new ArgumentException($"prior {prior} must be in [0, 1]", nameof(prior));
        if (!(smoothing > 0 && smoothing <= 1)) throw new ArgumentException($"smoothing {smoothing} must be in (0, 1]", nameof(smoothing));
        if (!(priorWeight >= 0)) throw new ArgumentException($"priorWeight {priorWeight} must be >= 0", nameof(priorWeight));
        if (!(poolWeight > 0)) throw new ArgumentException($"poolWeight {poolWeight} must be > 0", nameof(poolWeight));
        _accepted = new double[maxDepth + 1];
        _outcomes = new double[maxDepth + 1];
        _pooled = prior;
        _alpha = smoothing;
        _priorWeight = priorWeight;
        _poolWeight = poolWeight;
    }

    /// <summary>The largest depth this estimate covers.</summary>
    public int MaxDepth => _outcomes.Length - 1;

    /// <summary>The deepest depth that has been observed at least once (0 before any observation).</summary>
    public int DeepestObserved => _deepestObserved;

    /// <summary>p̄: the acceptance pooled over every outcome at every depth (the prior before any).</summary>
    public double Pooled => _pooled;

    /// <summary>
    /// Records one verification: <paramref name="proposed"/> tokens were drafted and the first
    /// <paramref name="accepted"/> were accepted. Depths 1..accepted count as accepted; depth accepted+1, when it
    /// exists, as rejected; deeper depths are not informative (they were conditioned on a rejection).
    /// </summary>
    public void Observe(int proposed, int accepted)
    {
        if (proposed < 0 || proposed > MaxDepth)
            throw new ArgumentOutOfRangeException(nameof(proposed), proposed, $"must be in 0..{MaxDepth}");
        if (accepted < 0 || accepted > proposed)
            throw new ArgumentOutOfRangeException(nameof(accepted), accepted, $"must be in 0..{proposed}");
        for (int j = 1; j <= accepted; j++) Update(j, 1);
        if (accepted < proposed) Update(accepted + 1, 0);
    }

    void Update(int depth, double outcome)
    {
        _outcomes[depth] = (1 - _alpha) * _outcomes[depth] + 1;
        _accepted[depth] = (1 - _alpha) * _accepted[depth] + outcome;
        // The count only matters while 1/(n + w) exceeds α; saturating it keeps a server that runs for weeks from wrapping it.
        if (_pooledCount < int.MaxValue) _pooledCount++;
        _pooled = Ema.Step(_pooled, outcome, Math.Max(_alpha, 1.0 / (_pooledCount + _priorWeight)));
        if (depth > _deepestObserved) _deepestObserved = depth;
    }

    /// <summary>p_j: the probability that depth <paramref name="depth"/> is accepted given depths below it were.</summary>
    public double Probability(int depth)
    {
        if (depth < 1 || depth > MaxDepth) throw new ArgumentOutOfRangeException(nameof(depth), depth, $"must be in 1..{MaxDepth}");
        return (_accepted[depth] + _poolWeight * _pooled) / (_outcomes[depth] + _poolWeight);
    }

    /// <summary>
    /// An optimistic p_j for choosing depths: <c>p_j + z·sqrt(p_j(1 − p_j))·sqrt(max(0, 1/(n_j + w) − α))</c>, capped
    /// at 1. The first root is one outcome's spread, the second how much more uncertain depth j is than a depth
    /// observed every cycle (whose discounted count settles at 1/α, where the bonus vanishes). A depth written off on
    /// one or two unlucky outcomes thus keeps a chance to be drafted and measured again, which the point estimate
    /// alone would never give it (optimism in the face of uncertainty); a depth seen often is taken at its estimate.
    /// </summary>
    /// <param name="depth">The depth j.</param>
    /// <param name="z">Spreads of optimism (0: the point estimate).</param>
    public double Optimistic(int depth, double z)
    {
        double p = Probability(depth);
        if (z <= 0) return p;
        double deficit = Math.Max(0, 1 / (_outcomes[depth] + _poolWeight) - _alpha);
        return Math.Min(1, p + z * Math.Sqrt(p * (1 - p) * deficit));
    }

    /// <summary>k_accept(k) = Σ_{i=1..k} Π_{j≤i} p_j, the expected number of accepted draft tokens at depth k (0 for k = 0).</summary>
    public double ExpectedAccepted(int k)
    {
        if (k < 0 || k > MaxDepth) throw new ArgumentOutOfRangeException(nameof(k), k, $"must be in 0..{MaxDepth}");
        double sum = 0, product = 1;
        for (int i = 1; i <= k; i++)
        {
            product *= Probability(i);
            sum += product;
        }
        return sum;
    }
}

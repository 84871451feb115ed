namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// The expected size of |E_new(k)|: how many experts the Expert Lookahead Buffer of a k-deep draft names that the
/// cache does not hold (the union over depths 1..k, minus the cache contents), learnt from the cycles observed.
/// </summary>
/// <remarks>
/// A cycle of depth k reports the cumulative count at every depth 1..k; each depth keeps an exponential moving
/// average of it (the first report replaces the prior; the next ones average with it, <see cref="Ema.Warm"/>); the
/// depths beyond a cycle's are rescaled by the change its deepest depth saw, so a curve measured once by a deep probe
/// follows the cache as it fills. A depth never drafted is extrapolated from the deepest one
/// observed, D: <c>e(d) = e(D) + (d − D)·Δ</c> with Δ = max(0, e(D) − e(D−1)) the last increment (e(1) when D = 1),
/// since the union grows by about what the last depth added. Before any report, <c>e(d) = d·prior</c>.
/// </remarks>
public sealed class NewExpertEstimate
{
    readonly double[] _e;   // [maxDepth + 1], index d = depth; _e[0] = 0
    readonly int[] _samples; // [maxDepth + 1]
    readonly double _perDepthPrior, _alpha;
    int _deepestObserved;

    /// <param name="maxDepth">Largest depth covered.</param>
    /// <param name="perDepthPrior">New experts each depth adds before any report.</param>
    /// <param name="smoothing">EMA factor α of the per-depth counts.</param>
    public NewExpertEstimate(int maxDepth, double perDepthPrior = 0, double smoothing = 0.2)
    {
        if (maxDepth < 1) throw new ArgumentException($"maxDepth {maxDepth} must be >= 1", nameof(maxDepth));
        Guard.NonNegative(perDepthPrior, nameof(perDepthPrior));
        if (!(smoothing > 0 && smoothing <= 1)) throw new ArgumentException($"smoothing {smoothing} must be in (0, 1]", nameof(smoothing));
        _e = new double[maxDepth + 1];
        _samples = new int[maxDepth + 1];
        _perDepthPrior = perDepthPrior;
        _alpha = smoothing;
    }

    /// <summary>The largest depth covered.</summary>
    public int MaxDepth => _e.Length - 1;

    /// <summary>The deepest depth reported so far (0 before any report).</summary>
    public int DeepestObserved => _deepestObserved;

    /// <summary>
    /// Records one cycle's ELB: <paramref name="cumulativeNew"/>[d − 1] is the number of distinct experts that depths
    /// 1..d named and the cache did not hold, for d = 1..k (non-decreasing, k = its length).
    /// </summary>
    public void Observe(ReadOnlySpan<int> cumulativeNew)
    {
        Validate(cumulativeNew, MaxDepth);
        int k = cumulativeNew.Length;
        double before = k > 0 ? _e[k] : 0;
        for (int d = 1; d <= k; d++)
        {
            _e[d] = Ema.Warm(_e[d], cumulativeNew[d - 1], _alpha, ref _samples[d]);
        }
        // Depths deeper than this cycle keep the shape they were measured with but follow its level: the cache's
        // contents move the whole curve, and a deep depth is measured only when a probe reaches it.
        if (k > 0 && before > 0 && _samples[k] > 1)
            for (int d = k + 1; d <= _deepestObserved; d++) _e[d] *= _e[k] / before;
        if (cumulativeNew.Length > _deepestObserved) _deepestObserved = cumulativeNew.Length;
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless the counts are a valid cumulative series of at most maxDepth depths.</summary>
    internal static void Validate(ReadOnlySpan<int> cumulativeNew, int maxDepth)
    {
        if (cumulativeNew.Length > maxDepth)
            throw new ArgumentException($"{cumulativeNew.Length} depths reported, at most {maxDepth}", nameof(cumulativeNew));
        int previous = 0;
        for (int i = 0; i < cumulativeNew.Length; i++)
        {
            if (cumulativeNew[i] < previous)
                throw new ArgumentException($"cumulative new-expert counts must be non-negative and non-decreasing (depth {i + 1}: {cumulativeNew[i]} after {previous})", nameof(cumulativeNew));
            previous = cumulativeNew[i];
        }
    }

    /// <summary>The expected |E_new(k)| for a draft of depth <paramref name="k"/> (0 for k = 0).</summary>
    public double Expected(int k)
    {
        if (k < 0 || k > MaxDepth) throw new ArgumentOutOfRangeException(nameof(k), k, $"must be in 0..{MaxDepth}");
        if (k == 0) return 0;
        int deepest = _deepestObserved;
        if (deepest == 0) return k * _perDepthPrior;
        if (k <= deepest) return _e[k];
        double step = deepest == 1 ? _e[1] : Math.Max(0, _e[deepest] - _e[deepest - 1]);
        return _e[deepest] + (k - deepest) * step;
    }
}

namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// Per-depth acceptance of the draft: p_j is the probability that the token drafted at depth j is accepted given that
/// depths 1..j−1 were, each an exponential moving average of what verification reported.
/// </summary>
/// <remarks>
/// The expected number of accepted draft tokens at depth k (the numerator of the MoE-SpeQ Amortization Roofline
/// throughput) is <c>k_accept(k) = Σ_{i=1..k} Π_{j≤i} p_j</c>: the tokens at depth i count only when every depth up
/// to i passed. A depth never tried takes the estimate of the deepest depth observed so far (the prior before any
/// observation); on its first observation its EMA starts from that inherited value. Until a depth has about 1/α
/// observations its step is <c>1 / (n + w)</c> rather than α, a running mean over its outcomes and w pseudo-outcomes
/// at the inherited value (w = 2 by default): a plain EMA of α = 0.05 would still be mostly prior after ten cycles, and a depth drafted
/// only now and then (deep depths, which the governor probes) would never shed it.
/// </remarks>
public sealed class AcceptanceEstimate
{
    readonly double[] _p;       // [maxDepth + 1], index j = depth (index 0 unused)
    readonly bool[] _observed;  // [maxDepth + 1]
    readonly int[] _count;      // [maxDepth + 1]: outcomes seen per depth
    readonly double _prior, _alpha;
    readonly double _priorWeight;
    int _deepestObserved;

    /// <param name="maxDepth">Largest depth that can be observed or queried.</param>
    /// <param name="prior">p_j before any observation reaches depth j's inheritance source.</param>
    /// <param name="smoothing">EMA factor α: each observation moves p_j by α towards 1 (accepted) or 0 (rejected).</param>
    /// <param name="priorWeight">Pseudo-outcomes the inherited value counts for while a depth is new.</param>
    public AcceptanceEstimate(int maxDepth, double prior = 0.8, double smoothing = 0.05, double priorWeight = 2)
    {
        if (!(priorWeight >= 0)) throw new ArgumentException($"priorWeight {priorWeight} must be >= 0", nameof(priorWeight));
        _priorWeight = priorWeight;
        if (maxDepth < 1) throw new ArgumentException($"maxDepth {maxDepth} must be >= 1", nameof(maxDepth));
        if (!(prior >= 0 && prior <= 1)) throw new ArgumentException($"prior {prior} must be in [0, 1]", nameof(prior));
        if (!(smoothing > 0 && smoothing <= 1)) throw new ArgumentException($"smoothing {smoothing} must be in (0, 1]", nameof(smoothing));
        _p = new double[maxDepth + 1];
        _observed = new bool[maxDepth + 1];
        _count = new int[maxDepth + 1];
        _prior = prior;
        _alpha = smoothing;
    }

    /// <summary>The largest depth this estimate covers.</summary>
    public int MaxDepth => _p.Length - 1;

    /// <summary>The deepest depth that has been observed at least once (0 before any observation).</summary>
    public int DeepestObserved => _deepestObserved;

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
        // A depth seen for the first time starts from what it inherited before this verification.
        double inherited = Inherited();
        for (int j = 1; j <= accepted; j++) Update(j, 1, inherited);
        if (accepted < proposed) Update(accepted + 1, 0, inherited);
    }

    void Update(int depth, double outcome, double inherited)
    {
        double current = _observed[depth] ? _p[depth] : inherited;
        int n = ++_count[depth];
        _p[depth] = Ema.Step(current, outcome, Math.Max(_alpha, 1.0 / (n + _priorWeight)));
        if (!_observed[depth])
        {
            _observed[depth] = true;
            if (depth > _deepestObserved) _deepestObserved = depth;
        }
    }

    // Never tried: every observation covers a prefix 1..D of depths, so an unobserved depth lies beyond the deepest
    // observed one, the closest evidence there is.
    double Inherited() => _deepestObserved > 0 ? _p[_deepestObserved] : _prior;

    /// <summary>p_j: the probability that depth <paramref name="depth"/> is accepted given depths below it were.</summary>
    public double Probability(int depth)
    {
        if (depth < 1 || depth > MaxDepth) throw new ArgumentOutOfRangeException(nameof(depth), depth, $"must be in 1..{MaxDepth}");
        return _observed[depth] ? _p[depth] : Inherited();
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

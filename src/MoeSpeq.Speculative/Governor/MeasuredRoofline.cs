namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// What the cycles achieved at each depth, summed over every cycle observed, in the terms of the model's
/// <see cref="RooflinePoint"/>, so a plot can set the measured roofline beside the predicted one.
/// </summary>
/// <remarks>
/// <para>Over the n_k cycles run at depth k: achieved <c>Θ(k) = Σ tokens / Σ (draft + stall + verify)</c>, compute
/// <c>Σ (draft + verify)</c>, and synchronous I/O the stall, <c>Σ IoStallSeconds</c>.</para>
/// <para>The stall becomes bytes with one link bandwidth for every depth, <c>B_link · stall</c>, as
/// <see cref="CycleCostModel.SynchronousBytes"/> does for the prediction. A stall is time the link spent on the
/// critical path, so with a shared B_link every point, measured or predicted, has its link roof on the same
/// diagonal <c>y = B_link · intensity</c>; a per-cycle bandwidth would give each point its own diagonal.</para>
/// <para>Observing allocates nothing.</para>
/// </remarks>
public sealed class MeasuredRoofline
{
    // Sums per depth 0..MaxDepth.
    readonly long[] _cycles, _tokens;
    readonly double[] _cycleSeconds, _computeSeconds, _stallSeconds;

    /// <summary>An empty record of depths 0..<paramref name="maxDepth"/>.</summary>
    public MeasuredRoofline(int maxDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDepth);
        MaxDepth = maxDepth;
        _cycles = new long[maxDepth + 1];
        _tokens = new long[maxDepth + 1];
        _cycleSeconds = new double[maxDepth + 1];
        _computeSeconds = new double[maxDepth + 1];
        _stallSeconds = new double[maxDepth + 1];
    }

    /// <summary>The largest depth recorded.</summary>
    public int MaxDepth { get; }

    /// <summary>Cycles observed at depth <paramref name="k"/>.</summary>
    public long Cycles(int k)
    {
        CheckDepth(k);
        return _cycles[k];
    }

    /// <summary>Cycles observed at every depth.</summary>
    public long TotalCycles => _cycles.Sum();

    /// <summary>Adds a finished cycle. Throws <see cref="ArgumentException"/> (and changes nothing) when the observation is invalid.</summary>
    public void Observe(in CycleObservation observation)
    {
        observation.Validate(MaxDepth);
        int k = observation.Depth;
        _cycles[k]++;
        _tokens[k] += observation.Tokens;
        _cycleSeconds[k] += observation.CycleSeconds;
        _computeSeconds[k] += observation.DraftSeconds + observation.VerifySeconds;
        _stallSeconds[k] += observation.IoStallSeconds;
    }

    /// <summary>
    /// Depth <paramref name="k"/> as measured, with per-cycle means where the prediction has expectations
    /// (tokens, seconds, bytes) and the stall turned into bytes at <paramref name="linkBytesPerSecond"/>; null when no
    /// cycle ran at that depth.
    /// </summary>
    public RooflinePoint? Point(int k, double linkBytesPerSecond)
    {
        CheckDepth(k);
        CheckBandwidth(linkBytesPerSecond);
        long n = _cycles[k];
        if (n == 0) return null;
        double tokens = (double)_tokens[k] / n;
        double cycle = _cycleSeconds[k] / n;
        double compute = _computeSeconds[k] / n;
        double stall = _stallSeconds[k] / n;
        return RooflinePoint.Of(k, tokens, cycle, compute, stall, stall * linkBytesPerSecond);
    }

    /// <summary>Every depth that ran at least one cycle, in increasing k (see <see cref="Point"/>).</summary>
    public IReadOnlyList<RooflinePoint> Points(double linkBytesPerSecond)
    {
        CheckBandwidth(linkBytesPerSecond);
        var points = new List<RooflinePoint>();
        for (int k = 0; k <= MaxDepth; k++)
            if (Point(k, linkBytesPerSecond) is { } point) points.Add(point);
        return points;
    }

    void CheckDepth(int k)
    {
        if (k < 0 || k > MaxDepth) throw new ArgumentOutOfRangeException(nameof(k), k, $"must be in 0..{MaxDepth}");
    }

    static void CheckBandwidth(double linkBytesPerSecond) => Guard.NonNegative(linkBytesPerSecond, nameof(linkBytesPerSecond));
}

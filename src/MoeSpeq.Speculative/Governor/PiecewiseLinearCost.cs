namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// A cost measured at some integer sizes and interpolated between them: the verification time T_verify(n) of the
/// target's batched pass over n positions in the Amortization Roofline model.
/// </summary>
/// <remarks>
/// Each size keeps an exponential moving average of its measurements (the first measurement replaces the prior).
/// <list type="bullet">
/// <item>At a measured size: its average.</item>
/// <item>Between two measured sizes: linear interpolation between the nearest measured size on each side.</item>
/// <item>Beyond the measured sizes: the line through the two nearest measured sizes on that side, with its slope
/// clamped at 0 and above (a bigger batch never costs less), and the result clamped at 0 and above.</item>
/// <item>With one measured size n₁: the prior's shape scaled through it, <c>c(n₁)·prior(n)/prior(n₁)</c>.</item>
/// <item>With none: the prior line <c>c(n) = c₁ + g·(n − 1)</c>.</item>
/// </list>
/// </remarks>
public sealed class PiecewiseLinearCost
{
    readonly double[] _value;      // [maxSize + 1], index n = size (index 0 unused)
    readonly bool[] _measured;     // [maxSize + 1]
    readonly int[] _samples;       // [maxSize + 1]
    readonly double _priorAtOne, _priorGrowth, _alpha;
    int _count;

    /// <param name="maxSize">Largest size that can be measured or queried (sizes are 1..maxSize).</param>
    /// <param name="priorAtOne">c₁, the prior cost at size 1.</param>
    /// <param name="priorGrowth">g, the prior cost of each size beyond 1.</param>
    /// <param name="smoothing">EMA factor α of repeated measurements at one size.</param>
    public PiecewiseLinearCost(int maxSize, double priorAtOne, double priorGrowth, double smoothing = 0.2)
    {
        if (maxSize < 1) throw new ArgumentException($"maxSize {maxSize} must be >= 1", nameof(maxSize));
        if (!(priorAtOne > 0) || double.IsInfinity(priorAtOne)) throw new ArgumentException($"priorAtOne {priorAtOne} must be finite and > 0", nameof(priorAtOne));
        Guard.NonNegative(priorGrowth, nameof(priorGrowth));
        if (!(smoothing > 0 && smoothing <= 1)) throw new ArgumentException($"smoothing {smoothing} must be in (0, 1]", nameof(smoothing));
        _value = new double[maxSize + 1];
        _measured = new bool[maxSize + 1];
        _samples = new int[maxSize + 1];
        _priorAtOne = priorAtOne;
        _priorGrowth = priorGrowth;
        _alpha = smoothing;
    }

    /// <summary>The largest size covered.</summary>
    public int MaxSize => _value.Length - 1;

    /// <summary>How many distinct sizes have been measured.</summary>
    public int MeasuredSizes => _count;

    /// <summary>Records that size <paramref name="size"/> cost <paramref name="cost"/>.</summary>
    public void Observe(int size, double cost)
    {
        CheckSize(size);
        Guard.NonNegative(cost, nameof(cost));
        _value[size] = Ema.Warm(_value[size], cost, _alpha, ref _samples[size]);
        if (_measured[size]) return;
        _measured[size] = true;
        _count++;
    }

    /// <summary>The estimated cost at <paramref name="size"/> (see the remarks for the rule).</summary>
    public double Evaluate(int size)
    {
        CheckSize(size);
        if (_measured[size]) return _value[size];
        if (_count == 0) return Prior(size);

        int below = Nearest(size - 1, -1), above = Nearest(size + 1, +1);
        if (_count == 1)
        {
            int only = below > 0 ? below : above;
            return _value[only] * Prior(size) / Prior(only);
        }
        if (below > 0 && above > 0) return Line(below, above, size, clampSlope: false);
        // Extrapolate from the two nearest measured sizes on the side that has them.
        int near = below > 0 ? below : above;
        int far = Nearest(near + (below > 0 ? -1 : +1), below > 0 ? -1 : +1);
        return below > 0 ? Line(far, near, size, clampSlope: true) : Line(near, far, size, clampSlope: true);
    }

    double Prior(int size) => _priorAtOne + _priorGrowth * (size - 1);

    // The cost at n on the line through sizes lo < hi, taken from the end nearer to n.
    double Line(int lo, int hi, int n, bool clampSlope)
    {
        double slope = (_value[hi] - _value[lo]) / (hi - lo);
        if (clampSlope && slope < 0) slope = 0;
        int anchor = n > hi ? hi : lo;
        double y = _value[anchor] + slope * (n - anchor);
        return y < 0 ? 0 : y;
    }

    // The nearest measured size from start (inclusive) in direction step, or 0 when there is none.
    int Nearest(int start, int step)
    {
        for (int n = start; n >= 1 && n <= MaxSize; n += step)
            if (_measured[n]) return n;
        return 0;
    }

    void CheckSize(int size)
    {
        if (size < 1 || size > MaxSize) throw new ArgumentOutOfRangeException(nameof(size), size, $"must be in 1..{MaxSize}");
    }
}

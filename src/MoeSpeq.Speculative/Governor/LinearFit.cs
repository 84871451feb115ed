namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// Online weighted least squares of y = a + b·x with exponential forgetting and a ridge prior, used for the draft
/// time T_draft(k) = a + b·k of the Amortization Roofline model.
/// </summary>
/// <remarks>
/// Minimises <c>Σ_i λ^{age_i} (y_i − a − b x_i)² + w_a (a − a₀)² + w_b (b − b₀)²</c> by solving the 2×2 normal
/// equations from running sums. The prior holds the intercept more firmly than the slope (w_a ≫ w_b), so while every
/// sample sits at one x the fit keeps the prior intercept and explains the samples by the slope (a cost proportional
/// to k), and once two distinct x have been seen the data decide both. Both prior weights are far below one sample's
/// weight of 1, so the prior's pull on a fit of real data is negligible.
/// </remarks>
public sealed class LinearFit
{
    /// <summary>Weight of the intercept prior, in samples.</summary>
    public const double InterceptPriorWeight = 1e-6;
    /// <summary>Weight of the slope prior, in samples (x² units).</summary>
    public const double SlopePriorWeight = 1e-9;

    readonly double _a0, _b0, _decay;
    double _sw, _sx, _sy, _sxx, _sxy;   // decayed Σw, Σwx, Σwy, Σwx², Σwxy of the samples
    double _a, _b;

    /// <param name="interceptPrior">a₀, the intercept before data.</param>
    /// <param name="slopePrior">b₀, the slope before data.</param>
    /// <param name="decay">λ in (0, 1]: every new sample multiplies the weight of the earlier ones by λ.</param>
    public LinearFit(double interceptPrior, double slopePrior, double decay = 1.0)
    {
        if (!double.IsFinite(interceptPrior)) throw new ArgumentException("interceptPrior must be finite", nameof(interceptPrior));
        if (!double.IsFinite(slopePrior)) throw new ArgumentException("slopePrior must be finite", nameof(slopePrior));
        if (!(decay > 0 && decay <= 1)) throw new ArgumentException($"decay {decay} must be in (0, 1]", nameof(decay));
        _a0 = interceptPrior;
        _b0 = slopePrior;
        _decay = decay;
        Solve();
    }

    /// <summary>The fitted intercept a.</summary>
    public double Intercept => _a;
    /// <summary>The fitted slope b.</summary>
    public double Slope => _b;
    /// <summary>Decayed weight of the samples seen (0 before the first).</summary>
    public double Weight => _sw;

    /// <summary>a + b·x.</summary>
    public double Evaluate(double x) => _a + _b * x;

    /// <summary>Adds the sample (x, y) with weight 1 and refits.</summary>
    public void Add(double x, double y)
    {
        if (!double.IsFinite(x)) throw new ArgumentException($"x must be finite, got {x}", nameof(x));
        if (!double.IsFinite(y)) throw new ArgumentException($"y must be finite, got {y}", nameof(y));
        _sw = _decay * _sw + 1;
        _sx = _decay * _sx + x;
        _sy = _decay * _sy + y;
        _sxx = _decay * _sxx + x * x;
        _sxy = _decay * _sxy + x * y;
        Solve();
    }

    void Solve()
    {
        // Normal equations: [s0 s1; s1 s2] [a; b] = [t0; t1]
        double s0 = _sw + InterceptPriorWeight, s1 = _sx, s2 = _sxx + SlopePriorWeight;
        double t0 = _sy + InterceptPriorWeight * _a0, t1 = _sxy + SlopePriorWeight * _b0;
        double det = s0 * s2 - s1 * s1;   // > 0: the prior makes the system positive definite
        _a = (t0 * s2 - s1 * t1) / det;
        _b = (s0 * t1 - s1 * t0) / det;
    }
}

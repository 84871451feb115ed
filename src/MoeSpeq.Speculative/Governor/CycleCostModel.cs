namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// The time side of the MoE-SpeQ Amortization Roofline model: how long one speculative cycle of depth k takes,
/// learnt online from the cycles observed.
/// </summary>
/// <remarks>
/// <para>Cycle time: <c>T_cycle(k) = max(T_draft(k), T_io_init) + T_io_new(k) + T_verify(k + 1)</c>.</para>
/// <list type="bullet">
/// <item><c>T_draft(k) = a + b·k</c> for k ≥ 1 (a <see cref="LinearFit"/> of the measured draft times), 0 for k = 0.</item>
/// <item><c>T_verify(n)</c>: the target's pass over n positions, measured per n and interpolated
/// (<see cref="PiecewiseLinearCost"/>).</item>
/// <item><c>T_io_init</c>: slow-tier time that runs while the draft does. It is measured on speculative cycles as the
/// time of the bytes a cycle reads beyond its ELB's new experts, <c>max(0, bytes_read − |E_new(k)|·S_expert) /
/// B_link</c>: what the cycle had to fetch whatever was drafted (misses the draft did not foresee, prefetches of the
/// previous cycle's guesses). A draft hides it up to its own length.</item>
/// <item>k = 0, plain decoding, has no ELB: every expert it lacks is fetched on the critical path, so its I/O is
/// neither of the two terms above (charging a plain step's whole fetch to <c>T_io_init</c> would charge it again to
/// every depth on top of <c>T_io_new(k)</c>, and the model would never leave k = 0 once there). Its cycle is
/// <c>T_verify(1)</c> plus its own measured stall; until one is measured, <c>T_io_init</c>.</item>
/// <item><c>T_io_new(k) = overhead + |E_new(k)|·S_expert / B_link</c> for k ≥ 1, 0 for k = 0: the fetch of the
/// experts the k-deep ELB names that the cache lacks (<see cref="NewExpertEstimate"/>), which the draft cannot hide
/// since it learns of them as it goes. The overhead is the stall a cycle shows beyond the model's two I/O terms.</item>
/// </list>
/// <para>In the model's decomposition a cycle is compute (<c>T_draft(k) + T_verify(k + 1)</c>) plus the stall on
/// the critical path, <c>max(0, T_io_init − T_draft(k)) + T_io_new(k)</c>. With no slow tier (resident experts)
/// both I/O terms are 0.</para>
/// </remarks>
public sealed class CycleCostModel
{
    readonly LinearFit _draft;
    readonly PiecewiseLinearCost _verify;      // sizes 1..MaxDepth + 1 positions
    readonly NewExpertEstimate _newExperts;
    readonly double _alpha;
    double _ioInit, _overhead, _bandwidth, _expertBytes, _plainStall;
    int _ioSamples, _overheadSamples, _bandwidthSamples, _plainSamples;   // samples of each estimate (0: still the prior)

    /// <summary>A model with the priors and smoothing of <paramref name="options"/>.</summary>
    public CycleCostModel(GovernorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        MaxDepth = options.MaxDepth;
        Resident = options.Resident;
        _alpha = options.CostSmoothing;
        _draft = new LinearFit(options.DraftInterceptPrior, options.DraftPerTokenPrior, options.DraftFitDecay);
        _verify = new PiecewiseLinearCost(options.MaxDepth + 1, options.VerifyOnePositionPrior, options.VerifyPerPositionPrior, options.CostSmoothing);
        _newExperts = new NewExpertEstimate(options.MaxDepth, options.NewExpertsPerDepthPrior, options.CostSmoothing);
        _overhead = options.IoOverheadPrior;
        _bandwidth = options.LinkBandwidthPrior;
        _expertBytes = options.ExpertBytesPrior;
    }

    /// <summary>The largest depth k modelled.</summary>
    public int MaxDepth { get; }
    /// <summary>No slow tier: the I/O terms are 0.</summary>
    public bool Resident { get; }

    /// <summary>The draft-time fit T_draft(k) = a + b·k.</summary>
    public LinearFit DraftFit => _draft;
    /// <summary>T_verify by number of positions.</summary>
    public PiecewiseLinearCost VerifyCost => _verify;
    /// <summary>The |E_new(k)| estimate.</summary>
    public NewExpertEstimate NewExperts => _newExperts;

    /// <summary>B_link in bytes per second (0 while unknown).</summary>
    public double LinkBytesPerSecond => _bandwidth;
    /// <summary>S_expert in bytes (0 while unknown).</summary>
    public double ExpertBytes => _expertBytes;
    /// <summary>T_io_init in seconds (0 when resident).</summary>
    public double IoInitSeconds => Resident ? 0 : _ioInit;
    /// <summary>The fixed part of T_io_new(k), in seconds (0 when resident).</summary>
    public double IoOverheadSeconds => Resident ? 0 : _overhead;

    /// <summary>T_draft(k) = max(0, a + b·k) for k ≥ 1; 0 for k = 0 (no draft runs).</summary>
    public double DraftSeconds(int k)
    {
        CheckDepth(k);
        return k == 0 ? 0 : Math.Max(0, _draft.Evaluate(k));
    }

    /// <summary>T_verify(n), the target's pass over <paramref name="positions"/> = k + 1 positions.</summary>
    public double VerifySeconds(int positions) => _verify.Evaluate(positions);

    /// <summary>T_io_new(k) = overhead + |E_new(k)|·S_expert / B_link for k ≥ 1; 0 for k = 0 or when resident.</summary>
    public double IoNewSeconds(int k)
    {
        CheckDepth(k);
        if (Resident || k == 0) return 0;
        double transfer = _bandwidth > 0 ? _newExperts.Expected(k) * _expertBytes / _bandwidth : 0;
        return _overhead + transfer;
    }

    /// <summary>The I/O on the critical path: <c>max(0, T_io_init − T_draft(k)) + T_io_new(k)</c> for k ≥ 1; a plain step's measured stall for k = 0.</summary>
    public double StallSeconds(int k)
    {
        if (k == 0) return Resident ? 0 : _plainSamples > 0 ? _plainStall : IoInitSeconds;
        return Math.Max(0, IoInitSeconds - DraftSeconds(k)) + IoNewSeconds(k);
    }

    /// <summary>Compute alone: <c>T_draft(k) + T_verify(k + 1)</c>.</summary>
    public double ComputeSeconds(int k) => DraftSeconds(k) + VerifySeconds(k + 1);

    /// <summary><c>T_cycle(k) = max(T_draft(k), T_io_init) + T_io_new(k) + T_verify(k + 1)</c>.</summary>
    public double CycleSeconds(int k) => k == 0
        ? StallSeconds(0) + VerifySeconds(1)
        : Math.Max(DraftSeconds(k), IoInitSeconds) + IoNewSeconds(k) + VerifySeconds(k + 1);

    /// <summary>The stall expressed as bytes over the link, <c>B_link · StallSeconds(k)</c>: the synchronous I/O of a cycle.</summary>
    public double SynchronousBytes(int k) => StallSeconds(k) * _bandwidth;

    /// <summary>Absorbs one cycle's measurements.</summary>
    public void Observe(in CycleObservation o)
    {
        o.Validate(MaxDepth);
        int k = o.Depth;
        if (k > 0) _draft.Add(k, o.DraftSeconds);
        _verify.Observe(k + 1, o.VerifySeconds);
        if (Resident) return;

        if (o.ExpertBytes > 0) _expertBytes = o.ExpertBytes;
        if (o.LinkBytesPerSecond > 0)
        {
            _bandwidth = Ema.Warm(_bandwidth, o.LinkBytesPerSecond, _alpha, ref _bandwidthSamples);
        }
        ReadOnlySpan<int> cumulative = o.NewExperts.Span;
        _newExperts.Observe(cumulative);
        if (k == 0)
        {
            _plainStall = Ema.Warm(_plainStall, o.IoStallSeconds, _alpha, ref _plainSamples);
            return;
        }
        if (_bandwidth <= 0) return;   // bytes cannot be turned into time yet

        double newBytes = (double)cumulative[k - 1] * _expertBytes;
        double initSeconds = Math.Max(0, o.BytesRead - newBytes) / _bandwidth;
        _ioInit = Ema.Warm(_ioInit, initSeconds, _alpha, ref _ioSamples);
        // Whatever stall the two I/O terms do not explain is the fixed cost of fetching the new experts.
        double residual = o.IoStallSeconds - Math.Max(0, initSeconds - o.DraftSeconds) - newBytes / _bandwidth;
        residual = Math.Max(0, residual);
        _overhead = Ema.Warm(_overhead, residual, _alpha, ref _overheadSamples);
    }

    void CheckDepth(int k)
    {
        if (k < 0 || k > MaxDepth) throw new ArgumentOutOfRangeException(nameof(k), k, $"must be in 0..{MaxDepth}");
    }
}

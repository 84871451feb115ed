namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// Chooses the draft depth k of each speculative cycle online with the MoE-SpeQ Amortization Roofline model:
/// <c>k* = argmax_{k ∈ 0..MaxDepth} Θ(k)</c>, <c>Θ(k) = (1 + k_accept(k)) / T_cycle(k)</c>, re-evaluated every
/// cycle as acceptance, cache contents and costs drift (see <see cref="AmortizationRoofline"/>).
/// </summary>
/// <remarks>
/// The decode loop calls <see cref="ChooseDepth"/> before a cycle and <see cref="ObserveCycle"/> after it; neither
/// allocates once the governor is built. A model that has written a depth off never measures it again, so the choice
/// takes each depth's acceptance optimistically in proportion to how little it has been observed
/// (<see cref="GovernorOptions.AcceptanceExploration"/>), and every <see cref="GovernorOptions.ProbeInterval"/>-th
/// choice runs one depth deeper than k*. Every cycle also goes into <see cref="Measured"/>, what each depth achieved,
/// to set beside the prediction.
/// </remarks>
public sealed class SpeculationGovernor
{
    readonly AcceptanceEstimate _acceptance;
    readonly CycleCostModel _costs;
    readonly AmortizationRoofline _model;
    readonly MeasuredRoofline _measured;
    readonly int _probeInterval;
    // Ring of the recent cycles: [MeasurementWindow] each.
    readonly double[] _tokens, _seconds, _forecastTokens, _forecastSeconds;
    int _next, _filled;
    long _choices;
    int? _fixedDepth;

    /// <summary>A governor with <paramref name="options"/> (defaults when null).</summary>
    public SpeculationGovernor(GovernorOptions? options = null)
    {
        Options = options ?? new GovernorOptions();
        Options.Validate();
        _acceptance = new AcceptanceEstimate(Options.MaxDepth, Options.AcceptancePrior, Options.AcceptanceSmoothing,
            Options.AcceptancePriorWeight, Options.AcceptancePoolWeight);
        _costs = new CycleCostModel(Options);
        _model = new AmortizationRoofline(_acceptance, _costs);
        _measured = new MeasuredRoofline(Options.MaxDepth);
        _probeInterval = Options.ProbeInterval;
        int window = Options.MeasurementWindow;
        _tokens = new double[window];
        _seconds = new double[window];
        _forecastTokens = new double[window];
        _forecastSeconds = new double[window];
    }

    /// <summary>The options the governor was built with.</summary>
    public GovernorOptions Options { get; }
    /// <summary>The largest depth it chooses.</summary>
    public int MaxDepth => Options.MaxDepth;
    /// <summary>The per-depth acceptance estimate.</summary>
    public AcceptanceEstimate Acceptance => _acceptance;
    /// <summary>The cycle-time model.</summary>
    public CycleCostModel Costs => _costs;
    /// <summary>The throughput model over both.</summary>
    public AmortizationRoofline Model => _model;
    /// <summary>What the observed cycles achieved at each depth.</summary>
    public MeasuredRoofline Measured => _measured;

    /// <summary>
    /// A depth <see cref="ChooseDepth"/> returns in place of the model's choice (null: the model chooses). The cycles
    /// are observed as usual, so sweeping it over 0..MaxDepth measures every depth with real cycles.
    /// </summary>
    public int? FixedDepth
    {
        get => _fixedDepth;
        set
        {
            if (value is { } k && (k < 0 || k > MaxDepth))
                throw new ArgumentOutOfRangeException(nameof(value), k, $"must be in 0..{MaxDepth}");
            _fixedDepth = value;
        }
    }

    /// <summary>
    /// k*, the depth of highest predicted throughput, acceptance taken optimistically where evidence is thin
    /// (<see cref="AmortizationRoofline.BestDepth"/> with <see cref="GovernorOptions.AcceptanceExploration"/>).
    /// </summary>
    public int BestDepth() => _model.BestDepth(Options.AcceptanceExploration);

    /// <summary>
    /// The depth to draft next: k*, except that every <see cref="GovernorOptions.ProbeInterval"/>-th call returns
    /// k* + 1 (when k* &lt; MaxDepth) so the model keeps measuring the next depth up. <see cref="FixedDepth"/>, when
    /// set, instead, without advancing the probe count.
    /// </summary>
    /// <remarks>
    /// With a slow tier, until a cycle has drafted MaxDepth deep, the first choice and every probe draft MaxDepth
    /// instead: one deep cycle measures the lookahead's new experts at every depth and acceptance up to its first
    /// rejection, where otherwise |E_new| beyond the deepest cycle is extrapolated from the last increment, which
    /// overstates a union that grows ever slower, and holds the governor at shallow depths it never leaves.
    /// </remarks>
    public int ChooseDepth()
    {
        if (_fixedDepth is { } fixedDepth) return fixedDepth;
        int best = _model.BestDepth(Options.AcceptanceExploration);
        _choices++;
        bool probe = _probeInterval > 0 && _choices % _probeInterval == 0;
        bool unexplored = !Options.Resident && _costs.NewExperts.DeepestObserved < MaxDepth;
        if (unexplored && (probe || _choices == 1)) return MaxDepth;
        if (probe && best < MaxDepth) return best + 1;
        return best;
    }

    /// <summary>
    /// Absorbs a finished cycle: acceptance per depth, draft and verify times, the I/O terms and the ELB's new
    /// experts. Throws <see cref="ArgumentException"/> (and changes nothing) when the observation is invalid.
    /// </summary>
    public void ObserveCycle(in CycleObservation observation)
    {
        observation.Validate(MaxDepth);
        int k = observation.Depth;
        int slot = _next;
        _forecastTokens[slot] = _model.ExpectedTokens(k);
        _forecastSeconds[slot] = _costs.CycleSeconds(k);
        _tokens[slot] = observation.Tokens;
        _seconds[slot] = observation.CycleSeconds;
        _next = (slot + 1) % _tokens.Length;
        if (_filled < _tokens.Length) _filled++;

        _acceptance.Observe(k, observation.Accepted);
        _costs.Observe(observation);
        _measured.Observe(observation);
    }

    /// <summary>Predicted Θ(k) in tokens per second.</summary>
    public double PredictedThroughput(int k) => _model.Throughput(k);

    /// <summary>Measured tokens per second over the recent cycles (0 before any cycle).</summary>
    public double MeasuredThroughput => Ratio(_tokens, _seconds);

    /// <summary>The model's forecast for the recent cycles, made before each was absorbed (0 before any cycle).</summary>
    public double ForecastThroughput => Ratio(_forecastTokens, _forecastSeconds);

    /// <summary>Cycles in the measurement window.</summary>
    public int WindowCycles => _filled;

    /// <summary>Predicted Θ(k*) next to what recent cycles measured, for the CLI's stats line.</summary>
    public GovernorReport Report()
    {
        int best = _model.BestDepth(Options.AcceptanceExploration);
        return new GovernorReport(best, _model.Throughput(best), ForecastThroughput, MeasuredThroughput, _filled);
    }

    /// <summary>The roofline at every depth, what <c>moespeq roofline</c> plots.</summary>
    public IReadOnlyList<RooflinePoint> Roofline() => _model.Points();

    /// <summary>
    /// What the cycles achieved at every depth that ran (<see cref="MeasuredRoofline.Points"/>), the stall turned into
    /// bytes at the model's B_link so these points and <see cref="Roofline"/> share one link roof.
    /// </summary>
    public IReadOnlyList<RooflinePoint> MeasuredPoints() => _measured.Points(_costs.LinkBytesPerSecond);

    double Ratio(double[] tokens, double[] seconds)
    {
        // The window is filled from slot 0, so its first _filled slots are the recent cycles.
        double t = 0, s = 0;
        for (int i = 0; i < _filled; i++)
        {
            t += tokens[i];
            s += seconds[i];
        }
        return s > 0 ? t / s : 0;
    }
}

namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// Priors and smoothing of the Amortization Roofline governor. Priors only matter until the first measurement of
/// each quantity; the smoothing factors set how fast the model follows drift (an EMA with factor α forgets a sample
/// after about 1/α cycles).
/// </summary>
public sealed record GovernorOptions
{
    /// <summary>The largest draft depth k the governor may choose; it chooses among 0..MaxDepth (0 is plain decoding).</summary>
    public int MaxDepth { get; init; } = 8;

    /// <summary>
    /// No slow tier: every expert is resident, so the I/O terms T_io_init and T_io_new(k) are 0 and the I/O fields
    /// of an observation are ignored.
    /// </summary>
    public bool Resident { get; init; }

    /// <summary>Per-depth acceptance probability p_j assumed before depth 1 has been observed.</summary>
    public double AcceptancePrior { get; init; } = 0.8;

    /// <summary>EMA factor of the per-depth acceptance probabilities.</summary>
    public double AcceptanceSmoothing { get; init; } = 0.05;

    /// <summary>Pseudo-outcomes at <see cref="AcceptancePrior"/> in the pooled acceptance while it is new (see <see cref="AcceptanceEstimate"/>).</summary>
    public double AcceptancePriorWeight { get; init; } = 2;

    /// <summary>
    /// Pseudo-outcomes at the pooled acceptance in every depth's estimate: how much evidence a depth needs before its
    /// own outcomes outweigh the other depths' (see <see cref="AcceptanceEstimate"/>).
    /// </summary>
    public double AcceptancePoolWeight { get; init; } = 6;

    /// <summary>
    /// How optimistic the choice of depth is about depths with little evidence, in spreads of one outcome (0: the
    /// point estimate; see <see cref="AcceptanceEstimate.Optimistic"/>).
    /// </summary>
    public double AcceptanceExploration { get; init; } = 1;

    /// <summary>EMA factor of measured costs: verify time per position count, bandwidth, I/O terms, new experts per depth.</summary>
    public double CostSmoothing { get; init; } = 0.2;

    /// <summary>Forgetting factor of the draft-time least-squares fit (1 keeps every cycle with equal weight).</summary>
    public double DraftFitDecay { get; init; } = 0.98;

    /// <summary>Prior intercept of T_draft(k) = a + b·k, in seconds.</summary>
    public double DraftInterceptPrior { get; init; }

    /// <summary>Prior slope of T_draft(k) = a + b·k: seconds per drafted token.</summary>
    public double DraftPerTokenPrior { get; init; } = 0.01;

    /// <summary>Prior T_verify(1): seconds of one target pass over one position.</summary>
    public double VerifyOnePositionPrior { get; init; } = 0.1;

    /// <summary>Prior growth of T_verify(n) per extra position, in seconds.</summary>
    public double VerifyPerPositionPrior { get; init; } = 0.01;

    /// <summary>Prior number of experts each extra draft depth adds to the ELB beyond what the cache holds.</summary>
    public double NewExpertsPerDepthPrior { get; init; }

    /// <summary>S_expert before an observation reports it: bytes of one expert in the slow tier (0: unknown).</summary>
    public long ExpertBytesPrior { get; init; }

    /// <summary>B_link before an observation reports it, in bytes per second (0: unknown, I/O counts as free until measured).</summary>
    public double LinkBandwidthPrior { get; init; }

    /// <summary>Prior fixed latency of the synchronous fetch of a cycle's new experts, in seconds.</summary>
    public double IoOverheadPrior { get; init; }

    /// <summary>
    /// Every this many calls <see cref="SpeculationGovernor.ChooseDepth"/> probes one depth above the optimum, so
    /// depths the model has written off keep being measured (0 turns probing off).
    /// </summary>
    public int ProbeInterval { get; init; } = 16;

    /// <summary>Number of recent cycles over which measured throughput is reported.</summary>
    public int MeasurementWindow { get; init; } = 32;

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        if (MaxDepth < 1 || MaxDepth > 32) throw new ArgumentException($"MaxDepth {MaxDepth} must be in 1..32", nameof(MaxDepth));
        Require(AcceptancePrior >= 0 && AcceptancePrior <= 1, nameof(AcceptancePrior), "must be in [0, 1]");
        Require(AcceptanceSmoothing > 0 && AcceptanceSmoothing <= 1, nameof(AcceptanceSmoothing), "must be in (0, 1]");
        Require(AcceptancePriorWeight >= 0, nameof(AcceptancePriorWeight), "must be >= 0");
        Require(AcceptancePoolWeight > 0 && double.IsFinite(AcceptancePoolWeight), nameof(AcceptancePoolWeight), "must be finite and > 0");
        Require(AcceptanceExploration >= 0 && double.IsFinite(AcceptanceExploration), nameof(AcceptanceExploration), "must be finite and >= 0");
        Require(CostSmoothing > 0 && CostSmoothing <= 1, nameof(CostSmoothing), "must be in (0, 1]");
        Require(DraftFitDecay > 0 && DraftFitDecay <= 1, nameof(DraftFitDecay), "must be in (0, 1]");
        Require(DraftInterceptPrior >= 0 && double.IsFinite(DraftInterceptPrior), nameof(DraftInterceptPrior), "must be finite and >= 0");
        Require(DraftPerTokenPrior >= 0 && double.IsFinite(DraftPerTokenPrior), nameof(DraftPerTokenPrior), "must be finite and >= 0");
        Require(VerifyOnePositionPrior > 0 && double.IsFinite(VerifyOnePositionPrior), nameof(VerifyOnePositionPrior), "must be finite and > 0");
        Require(VerifyPerPositionPrior >= 0 && double.IsFinite(VerifyPerPositionPrior), nameof(VerifyPerPositionPrior), "must be finite and >= 0");
        Require(NewExpertsPerDepthPrior >= 0 && double.IsFinite(NewExpertsPerDepthPrior), nameof(NewExpertsPerDepthPrior), "must be finite and >= 0");
        Require(ExpertBytesPrior >= 0, nameof(ExpertBytesPrior), "must be >= 0");
        Require(LinkBandwidthPrior >= 0 && double.IsFinite(LinkBandwidthPrior), nameof(LinkBandwidthPrior), "must be finite and >= 0");
        Require(IoOverheadPrior >= 0 && double.IsFinite(IoOverheadPrior), nameof(IoOverheadPrior), "must be finite and >= 0");
        Require(ProbeInterval >= 0, nameof(ProbeInterval), "must be >= 0");
        Require(MeasurementWindow >= 1, nameof(MeasurementWindow), "must be >= 1");
    }

    static void Require(bool ok, string name, string what)
    {
        if (!ok) throw new ArgumentException($"{name} {what}", name);
    }
}

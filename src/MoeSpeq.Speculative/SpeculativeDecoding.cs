using MoeSpeq.Experts;
using MoeSpeq.Model.Experts;
using MoeSpeq.Speculative.Governor;

namespace MoeSpeq.Speculative;

/// <summary>
/// What a generation speculates with: the draft, the depth policy, the stats object it reports into and, for
/// <c>auto</c>, the governor; <see cref="Runtime"/> (when experts come from a slow tier) tells the governor what the
/// cache holds, how large an expert is and how fast the tier reads.
/// </summary>
public sealed record SpeculativeDecoding(IDraft Draft, SpeculationOptions Options, ExpertStats Stats)
{
    public ExpertRuntime? Runtime { get; init; }

    /// <summary>Picks k each cycle when <see cref="SpeculationOptions.Auto"/>.</summary>
    public SpeculationGovernor? Governor { get; init; } = Options.Auto ? new SpeculationGovernor(new GovernorOptions { MaxDepth = Options.MaxDepth }) : null;

    /// <summary>Whether an expert is in the fast tier now (always, when experts are resident).</summary>
    public bool IsCached(ExpertKey key) => Runtime?.Cache is not { } cache || cache.Contains(key);

    /// <summary>S_expert: bytes one expert takes in the slow tier (0 when resident).</summary>
    public long ExpertBytes => Runtime?.Catalog?.ExpertBytes ?? 0;

    /// <summary>I/O threads reading in parallel: the tier's aggregate bandwidth is per-thread bandwidth times these.</summary>
    public int IoThreads => Runtime?.Orchestrator?.IoThreads ?? 1;
}

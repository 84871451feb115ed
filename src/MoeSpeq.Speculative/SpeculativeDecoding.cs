using MoeSpeq.Experts;
using MoeSpeq.Model.Experts;
using MoeSpeq.Speculative.Governor;

namespace MoeSpeq.Speculative;

/// <summary>
/// What a generation speculates with: the draft, the depth policy and the target's expert runtime, whose stats it
/// reports into and whose cache, expert size and I/O threads the governor reasons about (none when experts are
/// resident). For <c>auto</c> it holds the governor, built once from these.
/// </summary>
public sealed record SpeculativeDecoding(IDraft Draft, SpeculationOptions Options, ExpertRuntime Experts)
{
    public ExpertStats Stats => Experts.Stats;

    /// <summary>Sees each cycle (a recorder), or also decides its outcome (a routing replay); null for neither.</summary>
    public ICycleHook? Hook { get; init; }

    /// <summary>Picks k each cycle when <see cref="SpeculationOptions.Auto"/>; null otherwise.</summary>
    public SpeculationGovernor? Governor { get; } = Options.Auto
        ? new SpeculationGovernor(new GovernorOptions { MaxDepth = Options.MaxDepth, Resident = Experts.Cache is null })
        : null;

    /// <summary>Whether an expert is in the fast tier now (always, when experts are resident).</summary>
    public bool IsCached(ExpertKey key) => Experts.Cache is not { } cache || cache.Contains(key);

    /// <summary>S_expert: bytes one expert takes in the slow tier (0 when resident).</summary>
    public long ExpertBytes => Experts.Catalog?.ExpertBytes ?? 0;
}

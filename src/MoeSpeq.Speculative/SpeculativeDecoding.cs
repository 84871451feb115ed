using MoeSpeq.Experts;

namespace MoeSpeq.Speculative;

/// <summary>What a generation speculates with: the draft, the depth policy, and the stats object it reports into.</summary>
public sealed record SpeculativeDecoding(IDraft Draft, SpeculationOptions Options, ExpertStats Stats);

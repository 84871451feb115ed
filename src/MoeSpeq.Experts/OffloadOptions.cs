namespace MoeSpeq.Experts;

/// <summary>How routed experts are served: slow tier, cache budget and policy, predictor, I/O threads and link. Policy data, chosen at the CLI.</summary>
public sealed record OffloadOptions
{
    /// <summary><c>disk</c>, <c>host</c> or <c>resident</c> (no offloading).</summary>
    public string SlowTier { get; init; } = "resident";
    public ExpertBudget Budget { get; init; } = new(0, 0.25);
    /// <summary>Eviction policy name (<c>lru</c>, <c>lfu</c>, <c>activation</c>).</summary>
    public string Policy { get; init; } = "lru";
    /// <summary><c>none</c>, <c>gate-lookahead[:DEPTH[:EXTRA]]</c> or <c>history[:EXTRA]</c>.</summary>
    public string Predictor { get; init; } = "none";
    public int IoThreads { get; init; } = 4;
    /// <summary>Emulated link bandwidth of the host tier, GB/s.</summary>
    public double LinkBandwidthGBps { get; init; } = 16;
    /// <summary>Emulated link latency of the host tier, µs.</summary>
    public double LinkLatencyMicroseconds { get; init; } = 10;

    public bool Offloads => SlowTier != "resident";
}

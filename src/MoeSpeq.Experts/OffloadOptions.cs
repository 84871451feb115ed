namespace MoeSpeq.Experts;

/// <summary>How routed experts are served: slow tier, cache budget and policy, predictor, I/O threads and link. Policy data, chosen at the CLI.</summary>
public sealed record OffloadOptions
{
    /// <summary><c>disk</c>, <c>host</c> or <c>resident</c> (no offloading).</summary>
    public string SlowTier { get; init; } = "resident";
    public ExpertBudget Budget { get; init; } = new(0, 0.25);
    /// <summary>Eviction policy name (<c>lru</c>, <c>lfu</c>, <c>activation</c>).</summary>
    public string Policy { get; init; } = "lookahead";
    /// <summary><c>none</c>, <c>gate-lookahead[:DEPTH[:EXTRA]]</c> or <c>history[:EXTRA]</c>.</summary>
    public string Predictor { get; init; } = "none";
    public int IoThreads { get; init; } = 4;
    /// <summary>Emulated link bandwidth of the host tier, GB/s.</summary>
    public double LinkBandwidthGBps { get; init; } = 16;
    /// <summary>Emulated link latency of the host tier, µs.</summary>
    public double LinkLatencyMicroseconds { get; init; } = 10;
    /// <summary>
    /// A prefetch is read in pieces of this many bytes, so that a wrong guess stops soon after its layer routes
    /// without it; small enough to stop within milliseconds, large enough to stay a long sequential read.
    /// </summary>
    public long PrefetchPieceBytes { get; init; } = 4 << 20;

    /// <summary>Record every expert access into <see cref="ExpertRuntime.Trace"/> (<c>--trace</c>).</summary>
    public bool RecordTrace { get; init; }
    /// <summary>Look-ahead distributions a trace records per row: the routers of the next this many MoE layers.</summary>
    public int TraceLookaheadDepth { get; init; } = 2;
    /// <summary>A trace whose routing replaces the model's own (<c>--routing-replay</c>), for benchmarks on random-weight models.</summary>
    public string? RoutingReplay { get; init; }

    public bool Offloads => SlowTier != "resident";

    /// <summary>Whether the runtime stands between the model and its experts at all.</summary>
    public bool Intercepts => Offloads || RecordTrace || RoutingReplay is not null;
}

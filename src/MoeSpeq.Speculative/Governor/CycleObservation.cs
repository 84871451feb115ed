namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// What one speculative cycle measured: draft k tokens, wait for the slow tier, verify k + 1 positions. The cycle
/// took <c>DraftSeconds + IoStallSeconds + VerifySeconds</c> and produced <c>Accepted + 1</c> tokens (the accepted
/// prefix plus the token verification always yields: the correction at the first rejection or, when all k were
/// accepted, the next one).
/// </summary>
public readonly record struct CycleObservation
{
    /// <summary>k, the number of tokens drafted (0: a plain decoding step).</summary>
    public int Depth { get; init; }

    /// <summary>How many of the drafted tokens verification accepted, 0..k.</summary>
    public int Accepted { get; init; }

    /// <summary>Time spent drafting the k tokens (0 when k = 0).</summary>
    public double DraftSeconds { get; init; }

    /// <summary>Time of the target's pass over k + 1 positions, without the time it waited for experts.</summary>
    public double VerifySeconds { get; init; }

    /// <summary>Time the cycle waited for the slow tier beyond the draft: the I/O on the critical path.</summary>
    public double IoStallSeconds { get; init; }

    /// <summary>Bytes read from the slow tier during the cycle (demand reads and prefetches).</summary>
    public long BytesRead { get; init; }

    /// <summary>
    /// Cumulative |E_new| by depth, length k: element d − 1 counts the distinct experts that the Expert Lookahead
    /// Buffer of depths 1..d named and the cache did not hold when the cycle began. Slice a reused buffer to keep
    /// the decode loop allocation-free.
    /// </summary>
    public ReadOnlyMemory<int> NewExperts { get; init; }

    /// <summary>S_expert, the bytes of one expert (gate, up and down) in the slow tier.</summary>
    public long ExpertBytes { get; init; }

    /// <summary>B_link, the slow tier's bandwidth measured for the cycle's reads (ignored when nothing was read).</summary>
    public double LinkBytesPerSecond { get; init; }

    /// <summary>Tokens the cycle produced: the accepted draft tokens plus the one from verification.</summary>
    public int Tokens => Accepted + 1;

    /// <summary>Wall time of the cycle in the model's decomposition.</summary>
    public double CycleSeconds => DraftSeconds + IoStallSeconds + VerifySeconds;

    /// <summary>Throws <see cref="ArgumentException"/> when the observation is impossible for a governor of depth ≤ <paramref name="maxDepth"/>.</summary>
    public void Validate(int maxDepth)
    {
        if (Depth < 0 || Depth > maxDepth)
            throw new ArgumentOutOfRangeException(nameof(Depth), Depth, $"must be in 0..{maxDepth}");
        if (Accepted < 0 || Accepted > Depth)
            throw new ArgumentOutOfRangeException(nameof(Accepted), Accepted, $"must be in 0..{Depth}");
        Guard.NonNegative(DraftSeconds, nameof(DraftSeconds));
        Guard.NonNegative(VerifySeconds, nameof(VerifySeconds));
        Guard.NonNegative(IoStallSeconds, nameof(IoStallSeconds));
        Guard.NonNegative(LinkBytesPerSecond, nameof(LinkBytesPerSecond));
        if (BytesRead < 0) throw new ArgumentOutOfRangeException(nameof(BytesRead), BytesRead, "must be >= 0");
        if (ExpertBytes < 0) throw new ArgumentOutOfRangeException(nameof(ExpertBytes), ExpertBytes, "must be >= 0");
        if (NewExperts.Length != Depth)
            throw new ArgumentException($"NewExperts has {NewExperts.Length} depths, the cycle drafted {Depth}", nameof(NewExperts));
        NewExpertEstimate.Validate(NewExperts.Span, maxDepth);
    }
}

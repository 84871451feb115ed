namespace MoeSpeq.Model.Experts;

/// <summary>
/// An expert executor that can block (on experts read from a slow tier) and must stop when a generation is
/// cancelled. The generation's token is installed here for its duration rather than passed through every forward
/// pass: the executor is the only part of a forward pass that waits, so architectures stay unaware of cancellation,
/// and the executor, not the caller, knows what a cancelled generation leaves behind (queued reads, pinned slots).
/// </summary>
public interface ICancellableExpertExecutor
{
    /// <summary>From now on <see cref="IExpertExecutor.Forward"/> throws <see cref="OperationCanceledException"/> once <paramref name="cancel"/> is set, also while it waits for an expert.</summary>
    void Observe(CancellationToken cancel);

    /// <summary>
    /// Stops observing. When the token was cancelled, first makes the executor as the next generation needs it:
    /// nothing the cancelled one asked for still queued or being read, and no expert pinned.
    /// </summary>
    void EndObserving();
}

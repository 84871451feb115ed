namespace MoeSpeq.Speculative;

/// <summary>
/// Sees every draft-and-verify cycle of a generation: a recorder keeps each cycle's depth and outcome, and a routing
/// replay (a benchmark mode) also decides the outcome, so a random-weight model accepts what a trained one did.
/// </summary>
public interface ICycleHook
{
    /// <summary>A cycle of <paramref name="depth"/> drafts starts (0: a plain decoding step).</summary>
    void BeginCycle(int depth);

    /// <summary>The target verified the cycle and accepted <paramref name="accepted"/> drafts; returns how many stand.</summary>
    int EndCycle(int depth, int accepted);
}

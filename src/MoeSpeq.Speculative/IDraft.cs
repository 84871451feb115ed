using MoeSpeq.Model;

namespace MoeSpeq.Speculative;

/// <summary>
/// A cheap model that proposes the next tokens for the target to verify. A cycle is <see cref="Begin"/>, up to k
/// calls of <see cref="Next"/> (the caller samples each proposed token from the logits and feeds it back), then
/// <see cref="End"/>; after the target has verified, <see cref="Accepted"/> says how much of the sequence stands.
/// </summary>
public interface IDraft : IDisposable
{
    /// <summary>What drafts, for stats lines: kind, expert type, resident bytes.</summary>
    string Description { get; }

    /// <summary>Memory the draft holds beyond the target's (low-bit experts, or a whole separate model): counted against the budget.</summary>
    long ResidentBytes { get; }

    /// <summary>
    /// The draft's forecast of the target's routing over the cycle: a self-draft's own routing, or a separate draft
    /// model's token-based prediction (<see cref="ModelDraft"/>); null when there is none (the target has no routed experts).
    /// </summary>
    ExpertLookaheadBuffer? Lookahead { get; }

    /// <summary>
    /// Drafting starts. <paramref name="tokens"/> is the whole sequence; the target's state holds all of it but the
    /// last token in its KV cache, and that last token is the first <see cref="Next"/> input.
    /// </summary>
    void Begin(RunState target, ReadOnlySpan<int> tokens);

    /// <summary>Evaluates <paramref name="token"/>, the next token of the sequence, and writes the draft's logits for the one after it ([vocab]).</summary>
    void Next(int token, Span<float> logits);

    /// <summary>Drafting is over: the target's state is back where <see cref="Begin"/> found it, ready to verify.</summary>
    void End();

    /// <summary>Verification kept the first <paramref name="length"/> tokens of the sequence; what the draft computed past them is void.</summary>
    void Accepted(int length);
}

using System.Diagnostics;
using MoeSpeq.Model;

namespace MoeSpeq.Speculative;

/// <summary>
/// The target as its own draft: the same model, with its routed experts computed from resident low-bit copies
/// (<see cref="DraftExperts"/>) while it drafts. It shares the target's non-expert weights and its KV cache: the
/// positions it drafts are written into the target's cache and overwritten by the target's own values when the
/// target verifies them, so nothing needs copying and a rejection needs no cleanup beyond the position.
/// </summary>
public sealed class SelfDraft : IDraft
{
    readonly LanguageModel _model;
    readonly SelfDraftExecutor _executor;
    readonly DraftExperts _experts;
    RunState? _state;
    int _start, _depth;

    internal SelfDraft(LanguageModel model, SelfDraftExecutor executor, DraftExperts experts)
    {
        _model = model;
        _executor = executor;
        _experts = experts;
    }

    public string Description => _experts.Description;
    public long ResidentBytes => _experts.ResidentBytes;
    public ExpertLookaheadBuffer Lookahead => _executor.Lookahead;
    ExpertLookaheadBuffer? IDraft.Lookahead => Lookahead;

    public void Begin(RunState target, ReadOnlySpan<int> tokens)
    {
        if (target.Position != tokens.Length - 1)
            throw new InvalidOperationException($"the target holds {target.Position} positions; a draft of {tokens.Length} tokens starts from {tokens.Length - 1}");
        _state = target;
        _start = target.Position;
        _depth = 0;
        Lookahead.Clear();
    }

    public void Next(int token, Span<float> logits)
    {
        var state = _state ?? throw new InvalidOperationException("Next before Begin");
        if (_depth == Lookahead.MaxDepth) throw new InvalidOperationException($"the lookahead buffer holds {Lookahead.MaxDepth} draft steps");
        _executor.DraftDepth = ++_depth;
        try
        {
            _model.Evaluate(state, [token], logits, allLogits: false);
        }
        finally
        {
            _executor.DraftDepth = 0;
        }
    }

    public void End()
    {
        var state = _state ?? throw new InvalidOperationException("End before Begin");
        state.Position = _start;
    }

    public void Accepted(int length)
    {
        Debug.Assert(_state is null || length >= _start + 1);
        // The verification pass has scored the buffer against the target's routing; the next cycle starts empty.
        Lookahead.Clear();
        _state = null;
    }

    /// <summary>The draft experts are the model's executor's to free: they go with the model.</summary>
    public void Dispose() { }
}

using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative;

/// <summary>
/// Records a self-draft's routing for <c>--trace</c>: the draft's expert choices through a
/// <see cref="TracingExpertExecutor"/> of their own, and each cycle's depth and accepted count. With the target's
/// trace (the expert runtime records it) they make a <see cref="SpeculationTrace"/>, what a benchmark replays onto
/// other models.
/// </summary>
public sealed class SpeculationRecorder : ICycleHook
{
    readonly List<(int Depth, int Accepted, int TargetStep)> _cycles = [];
    TracingExpertExecutor? _draft;
    ExpertTrace? _target;

    /// <summary>Wraps the draft's expert executor so its routing is traced in the shape of <paramref name="target"/>, the target's trace.</summary>
    internal IExpertExecutor Wrap(IExpertExecutor draft, ExpertTrace target, RouterPreview routers)
    {
        _target = target;
        return _draft = new TracingExpertExecutor(draft, new ExpertTrace(target.Shape), target.Shape.HasProbabilities ? routers : null, stats: null);
    }

    public void BeginCycle(int depth) { }

    public int EndCycle(int depth, int accepted)
    {
        // Verification was the target's last forward pass.
        if (_target is { } target) _cycles.Add((depth, accepted, target.Steps.Count - 1));
        return accepted;
    }

    /// <summary>The recorded run, given the target's finished trace.</summary>
    public SpeculationTrace Finish(ExpertTrace target)
    {
        var draft = _draft ?? throw new InvalidOperationException("the draft's executor was never built");
        draft.Finish();
        return new SpeculationTrace(target, draft.Trace, _cycles);
    }
}

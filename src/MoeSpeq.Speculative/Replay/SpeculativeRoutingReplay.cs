using MoeSpeq.Experts.Replay;
using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative.Replay;

/// <summary>
/// Replays a recorded self-draft run (<see cref="SpeculationTrace"/>) on another model, a benchmark mode for
/// random-weight models: cycle by cycle, the draft's expert choices at each depth are the recorded draft's, the
/// target's at each verified row the recorded target's, and the number of drafts that stand is the recorded one
/// (capped by the depth drafted now). The lookahead buffer, the prefetches it drives and the cache then see exactly
/// the foresight the trained model's draft had, never a perfect one; the computed values are meaningless.
/// </summary>
/// <remarks>
/// Replay cycle c uses recorded cycle c of those drafted to the recording's full depth, so any depth up to it can be
/// replayed: k drafts take the first k draft rows and k + 1 verified rows. Cycles follow each other in the recorded
/// text, which keeps the temporal locality of the routing. Layers map as <see cref="RoutingReplay"/> maps them: MoE
/// layer m replays recorded layer m mod M, and each further block of M layers replays the run a fixed number of cycles
/// later, draft and target alike, so a draft row always foresees the target row of its own cycle. Prompt passes
/// replay the recorded prompt.
/// </remarks>
public sealed class SpeculativeRoutingReplay : IExpertExecutor, ICancellableExpertExecutor, IDisposable, ICycleHook
{
    readonly SelfDraftExecutor _inner;
    readonly RoutingReplay _target, _draft;
    readonly SpeculationCycle[] _cycles;
    readonly int[] _promptTokens;
    readonly int _blockStride;
    int[] _ids = [];
    float[] _weights = [];
    int _cycle = -1, _depth, _lastLayer = int.MaxValue, _passTokens, _promptRow;
    bool _inCycle, _promptPass;

    /// <param name="inner">The self-draft's executor, which runs the target and the draft on the replayed routing.</param>
    /// <param name="layers">The model's layer count; <paramref name="moeLayers"/> those with routed experts.</param>
    public SpeculativeRoutingReplay(SelfDraftExecutor inner, SpeculationTrace trace, int layers, IReadOnlyList<int> moeLayers, int experts, int k)
    {
        _cycles = [.. trace.Cycles.Where(c => c.Depth == trace.MaxDepth && c.Depth > 0)];
        if (_cycles.Length == 0) throw new ArgumentException("the speculation trace holds no cycle that drafted a token: record it with --speculate N, N ≥ 1");
        _inner = inner;
        _target = new RoutingReplay(trace.Target, layers, moeLayers, experts, k);
        _draft = new RoutingReplay(trace.Draft, layers, moeLayers, experts, k);
        MaxDepth = trace.MaxDepth;
        _promptTokens = trace.PromptTokens.Length > 0 ? trace.PromptTokens : [0];
        int blocks = (moeLayers.Count + _target.SourceMoeLayers - 1) / _target.SourceMoeLayers;
        _blockStride = Math.Max(1, _cycles.Length / blocks);
        Description = $"speculative routing replayed from {trace.Target.Shape.Model}: {_cycles.Length} cycles drafted to depth {MaxDepth}, " +
            $"{_cycles.Average(c => c.Accepted):F2} accepted per cycle; target {_target.Describe()}";
    }

    /// <summary>The deepest draft the recording supports.</summary>
    public int MaxDepth { get; }
    public string Description { get; }

    public void BeginCycle(int depth)
    {
        if (depth > MaxDepth) throw new InvalidOperationException($"the recording drafted {MaxDepth} tokens per cycle; a cycle of {depth} cannot be replayed");
        _cycle++;
        _depth = depth;
        _inCycle = true;
    }

    public int EndCycle(int depth, int accepted)
    {
        _inCycle = false;
        return Math.Min(depth, Recorded(0).Accepted);
    }

    /// <summary>The recorded cycle that replay cycle <see cref="_cycle"/> replays at MoE block <paramref name="block"/>.</summary>
    SpeculationCycle Recorded(int block) => _cycles[(int)(((long)Math.Max(_cycle, 0) + (long)block * _blockStride) % _cycles.Length)];

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        if (layer <= _lastLayer)
        {
            // A new forward pass: a prompt pass's rows follow the previous prompt pass's.
            if (_promptPass) _promptRow += _passTokens;
            _promptPass = !_inCycle && _inner.DraftDepth == 0;
            _passTokens = tokens;
        }
        _lastLayer = layer;
        int moe = _target.MoeIndexOf(layer);
        if (moe < 0) throw new InvalidOperationException($"layer {layer} routes experts but the replay has no MoE layer for it");
        if (_ids.Length < tokens * k)
        {
            _ids = new int[tokens * k];
            _weights = new float[tokens * k];
        }
        var cycle = Recorded(moe / _target.SourceMoeLayers);
        int draftDepth = _inner.DraftDepth;
        for (int t = 0; t < tokens; t++)
        {
            var rowIds = _ids.AsSpan(t * k, k);
            var rowWeights = _weights.AsSpan(t * k, k);
            if (draftDepth > 0) _draft.ChooseRecorded(cycle.DraftFirstToken + draftDepth - 1, moe, rowIds, rowWeights);
            else if (_inCycle && t <= _depth) _target.ChooseRecorded(cycle.TargetFirstToken + t, moe, rowIds, rowWeights);
            else _target.ChooseRecorded(_promptTokens[(_promptRow + t) % _promptTokens.Length], moe, rowIds, rowWeights);
        }
        _inner.Forward(layer, residual, hidden, _ids.AsSpan(0, tokens * k), _weights.AsSpan(0, tokens * k), tokens, k, output);
    }

    public void OnSequenceStart()
    {
        _lastLayer = int.MaxValue;
        _promptRow = 0;
        _passTokens = 0;
        _promptPass = false;
        _inCycle = false;
        _inner.OnSequenceStart();
    }

    public void Observe(CancellationToken cancel) => _inner.Observe(cancel);

    public void EndObserving()
    {
        _inCycle = false;
        _inner.EndObserving();
    }

    public void Dispose() => _inner.Dispose();
}

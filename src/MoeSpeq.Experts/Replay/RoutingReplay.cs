using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model.Layers;

namespace MoeSpeq.Experts.Replay;

/// <summary>
/// Routing taken from a trace of a trained model and mapped onto a larger model's MoE layers and experts, so that a
/// random-weight benchmark model (whose own routers choose almost uniformly, the worst case for any cache) sees the
/// temporal locality and look-ahead predictability of real routing.
/// </summary>
/// <remarks>
/// Layers: the target's MoE layers are cut into blocks of the source's MoE layer count; block b replays the source
/// layers in order at a token offset of b · ⌊T / blocks⌋, so consecutive tokens stay consecutive (temporal locality is
/// kept) while blocks do not repeat each other. Experts: the source's router distribution is folded onto the target's
/// expert count (target j sums the source experts e ≡ j mod E_target when the target has fewer; when it has more,
/// source e's probability is split among targets j ≡ e mod E_source by fixed pseudo-random shares), then the target
/// takes its own top k, renormalised. Look-ahead distributions are folded the same way, within a block only: the
/// trace holds none from one block's last layer to the next block's first.
/// </remarks>
public sealed class RoutingReplay
{
    readonly ExpertTrace _source;
    readonly int[] _targetMoe;   // [target layer] → target MoE index, or −1
    readonly int _targetMoeCount, _targetExperts, _targetK, _sourceMoe, _sourceExperts, _stride, _tokens;
    readonly float[] _share;     // [target MoE index, target expert] when the target has more experts
    readonly float[] _folded;

    public RoutingReplay(ExpertTrace source, int targetLayers, IReadOnlyList<int> targetMoeLayers, int targetExperts, int targetK)
    {
        if (!source.Shape.HasProbabilities)
            throw new ArgumentException("routing replay needs a trace with router probabilities (record it with --trace on a resident or offloaded run, not a replayed one)");
        if (source.TokenCount == 0) throw new ArgumentException("the routing trace holds no tokens");
        if (targetK > targetExperts || targetK < 1) throw new ArgumentException($"{targetK} of {targetExperts} experts is not a routing shape");
        _source = source;
        _sourceMoe = source.Shape.MoeLayerCount;
        _sourceExperts = source.Shape.Experts;
        _targetMoeCount = targetMoeLayers.Count;
        _targetExperts = targetExperts;
        _targetK = targetK;
        _tokens = source.TokenCount;
        _targetMoe = new int[targetLayers];
        Array.Fill(_targetMoe, -1);
        for (int m = 0; m < targetMoeLayers.Count; m++) _targetMoe[targetMoeLayers[m]] = m;
        TargetMoeLayers = [.. targetMoeLayers];
        int blocks = (_targetMoeCount + _sourceMoe - 1) / _sourceMoe;
        _stride = Math.Max(1, _tokens / blocks);
        _share = targetExperts > _sourceExperts ? Shares(_targetMoeCount, targetExperts, _sourceExperts) : [];
        _folded = new float[targetExperts];
    }

    public int[] TargetMoeLayers { get; }

    /// <summary>The token a look-ahead predictor previews now: the last of the forward pass being replayed.</summary>
    public int CurrentToken { get; internal set; }
    public int SourceTokens => _tokens;
    public string Describe() =>
        $"routing replayed from {_source.Shape.Model} ({_tokens} tokens, {_sourceMoe} MoE layers × {_sourceExperts} experts, top-{_source.Shape.K}) " +
        $"onto {_targetMoeCount} MoE layers × {_targetExperts} experts, top-{_targetK}";

    /// <summary>The target MoE index of model layer <paramref name="layer"/>, or −1.</summary>
    public int MoeIndexOf(int layer) => (uint)layer < (uint)_targetMoe.Length ? _targetMoe[layer] : -1;

    (int Token, int Moe) Source(int token, int moe) => ((token + moe / _sourceMoe * _stride) % _tokens, moe % _sourceMoe);

    /// <summary>ids, weights: [k] the replayed choice for <paramref name="token"/> at target MoE index <paramref name="moe"/>.</summary>
    public void Choose(int token, int moe, Span<int> ids, Span<float> weights)
    {
        var (t, m) = Source(token, moe);
        ChooseFrom(t, m, moe, ids, weights);
    }

    /// <summary>
    /// The choice at target MoE index <paramref name="moe"/> from the recorded token <paramref name="sourceToken"/>
    /// itself, for callers that map tokens their own way (a speculative replay maps cycles, not positions); the
    /// source layer is <c>moe mod</c> <see cref="SourceMoeLayers"/>.
    /// </summary>
    public void ChooseRecorded(int sourceToken, int moe, Span<int> ids, Span<float> weights) =>
        ChooseFrom(sourceToken, moe % _sourceMoe, moe, ids, weights);

    /// <summary>MoE layers in the recorded trace: target MoE layer m replays source layer m mod this.</summary>
    public int SourceMoeLayers => _sourceMoe;

    void ChooseFrom(int t, int m, int moe, Span<int> ids, Span<float> weights)
    {
        Fold(_source.Probabilities(t, m), moe, _folded);
        Router.TopK(_folded, ids);
        float sum = 0;
        for (int j = 0; j < ids.Length; j++) sum += weights[j] = _folded[ids[j]];
        for (int j = 0; j < ids.Length; j++) weights[j] /= Math.Max(sum, 1e-20f);
    }

    /// <summary>
    /// probs: [target experts] the recorded look-ahead from target MoE index <paramref name="moe"/> to moe + depth;
    /// false when the trace holds none (beyond its depth, or across a block boundary).
    /// </summary>
    public bool Lookahead(int token, int moe, int depth, Span<float> probs)
    {
        if (depth < 1 || depth > _source.Shape.Depth || moe + depth >= _targetMoeCount) return false;
        if ((moe + depth) / _sourceMoe != moe / _sourceMoe) return false;
        var (t, m) = Source(token, moe);
        var ahead = _source.Lookahead(t, m, depth);
        if (float.IsNaN(ahead[0])) return false;
        Fold(ahead, moe + depth, probs);
        return true;
    }

    void Fold(ReadOnlySpan<float> source, int targetMoe, Span<float> target)
    {
        target.Clear();
        if (_targetExperts <= _sourceExperts)
        {
            for (int e = 0; e < source.Length; e++) target[e % _targetExperts] += source[e];
            return;
        }
        var share = _share.AsSpan(targetMoe * _targetExperts, _targetExperts);
        for (int j = 0; j < _targetExperts; j++) target[j] = source[j % _sourceExperts] * share[j];
    }

    /// <summary>Fixed shares in [0.5, 1.5), normalised within each family j ≡ e (mod source experts), per layer.</summary>
    static float[] Shares(int layers, int targetExperts, int sourceExperts)
    {
        var share = new float[layers * targetExperts];
        var rng = new Random(20240611);
        for (int i = 0; i < share.Length; i++) share[i] = 0.5f + (float)rng.NextDouble();
        for (int l = 0; l < layers; l++)
        {
            var row = share.AsSpan(l * targetExperts, targetExperts);
            for (int e = 0; e < sourceExperts; e++)
            {
                float sum = 0;
                for (int j = e; j < targetExperts; j += sourceExperts) sum += row[j];
                for (int j = e; j < targetExperts; j += sourceExperts) row[j] /= sum;
            }
        }
        return share;
    }
}

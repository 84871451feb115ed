using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Prediction;

/// <summary>
/// Predicts the next MoE layer's experts from activation history: how often each expert of layer l+1 followed the
/// experts just chosen at layer l (co-activation counts gathered online, decayed so the current text dominates).
/// Needs no model weights, so it also serves architectures whose routers cannot be previewed cheaply.
/// </summary>
public sealed class HistoryPredictor : IExpertPredictor
{
    // Counts halve about every this many observed tokens: long enough to learn, short enough to follow the topic.
    const int HalfLifeTokens = 512;

    readonly int _layers, _experts, _extra;
    readonly float[] _follows; // [layer, expert at layer, expert at next MoE layer]
    readonly int[] _nextMoe;   // next MoE layer after each layer, or −1
    readonly int[] _previous;  // [layer, k]: the last token's choice per layer
    readonly int[] _previousCount;
    readonly float[] _scores;
    readonly int _firstMoe;
    float _increment = 1;

    public HistoryPredictor(int layers, int experts, Func<int, bool> isMoeLayer, int extra = 0)
    {
        _layers = layers;
        _experts = experts;
        _extra = extra;
        _follows = new float[layers * experts * experts];
        _nextMoe = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            _nextMoe[l] = -1;
            for (int n = l + 1; n < layers; n++) if (isMoeLayer(n)) { _nextMoe[l] = n; break; }
        }
        _previous = new int[layers * experts];
        _previousCount = new int[layers];
        _scores = new float[experts];
        _firstMoe = Enumerable.Range(0, layers).FirstOrDefault(isMoeLayer);
    }

    public string Name => $"history:{_extra}";

    public void Observe(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<int> ids, int tokens, int k, IPrefetchSink sink)
    {
        var last = ids.Slice((tokens - 1) * k, k);
        // Learn: the previous MoE layer's choice for this token was followed by this one.
        for (int p = 0; p < _layers; p++)
        {
            if (_nextMoe[p] != layer || _previousCount[p] == 0) continue;
            for (int i = 0; i < _previousCount[p]; i++)
                foreach (int e in last) _follows[(p * _experts + _previous[p * _experts + i]) * _experts + e] += _increment;
        }
        last.CopyTo(_previous.AsSpan(layer * _experts));
        _previousCount[layer] = k;
        if (layer == _firstMoe) Decay();

        int next = _nextMoe[layer];
        if (next < 0) return;
        _scores.AsSpan().Clear();
        foreach (int e in last)
            for (int f = 0; f < _experts; f++) _scores[f] += _follows[(layer * _experts + e) * _experts + f];
        float total = 0;
        foreach (float v in _scores) total += v;
        if (total <= 0) return;
        // The best k + extra by repeated selection: few picks from few experts, and no allocation.
        int count = Math.Min(_experts, k + _extra);
        for (int i = 0; i < count; i++)
        {
            int best = 0;
            for (int f = 1; f < _experts; f++) if (_scores[f] > _scores[best]) best = f;
            if (_scores[best] <= 0) break;
            sink.Predict(new ExpertKey(next, best), next - layer, _scores[best] / total * k);
            _scores[best] = -1;
        }
    }

    /// <summary>Exponential decay by growing the increment; rescales before floats lose precision.</summary>
    void Decay()
    {
        _increment *= MathF.Pow(2f, 1f / HalfLifeTokens);
        if (_increment < 1e6f) return;
        for (int i = 0; i < _follows.Length; i++) _follows[i] /= _increment;
        _increment = 1;
    }
}

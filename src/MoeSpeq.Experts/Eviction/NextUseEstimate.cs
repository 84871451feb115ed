using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Eviction;

/// <summary>
/// How many layers from now each expert is expected to be used next, which is what Belady's MIN would rank by if the
/// future were known. Decode visits the layers in a fixed cycle, so an expert of layer j cannot be needed before the
/// pass comes round to j again: δ layers from now. At that visit it is used with probability c, a predictor's
/// confidence when one has predicted it, else its decayed activation rate p at that layer; if it is not used then,
/// each later visit uses it with rate p, a full cycle of L layers apart. So E[distance] = δ + (1 − c) · L / p.
/// </summary>
/// <remarks>Recency order is the worst case of this cycle: the expert used longest ago is the one whose layer comes next.</remarks>
public sealed class NextUseEstimate
{
    // Per-visit decay of the activation rate: remembers about the last ten tokens, short enough to follow a topic.
    const double Decay = 0.9;
    // A rate never drops to zero, so an expert not used lately is far away rather than infinitely far.
    const double MinRate = 0.02;

    readonly int _layers, _experts;
    readonly double[] _rate;      // [layer·experts + expert] decayed share of its layer's visits that used it
    readonly float[] _confidence; // [layer·experts + expert] prediction for its layer's next visit, or NaN
    int _current;

    /// <param name="expertsUsed">The router's k: before any history every expert of a layer is as likely as k of E (0: unknown, 1 of E).</param>
    public NextUseEstimate(int layers, int experts, int expertsUsed = 0)
    {
        _layers = layers;
        _experts = experts;
        _rate = new double[layers * experts];
        _confidence = new float[layers * experts];
        Array.Fill(_rate, Math.Clamp(expertsUsed > 0 ? (double)expertsUsed / experts : 1.0 / experts, MinRate, 1));
        Array.Fill(_confidence, float.NaN);
    }

    /// <summary>The pass reaches <paramref name="layer"/>: its experts' rates decay by one visit, its predictions are spent.</summary>
    public void OnLayerStart(int layer)
    {
        if ((uint)layer >= (uint)_layers) return;
        _current = layer;
        var rates = _rate.AsSpan(layer * _experts, _experts);
        for (int e = 0; e < rates.Length; e++) rates[e] *= Decay;
        _confidence.AsSpan(layer * _experts, _experts).Fill(float.NaN);
    }

    /// <summary>The running layer uses <paramref name="key"/> (once per visit).</summary>
    public void OnAccess(ExpertKey key) => _rate[key.Layer * _experts + key.Expert] += 1 - Decay;

    /// <summary>A predictor expects <paramref name="key"/> at its layer's next visit with probability <paramref name="confidence"/>; the highest guess counts.</summary>
    public void OnPredicted(ExpertKey key, float confidence)
    {
        int i = key.Layer * _experts + key.Expert;
        float c = Math.Clamp(confidence, 0f, 1f);
        if (!(_confidence[i] >= c)) _confidence[i] = c;
    }

    /// <summary>Forgets every prediction.</summary>
    public void ClearPredictions() => _confidence.AsSpan().Fill(float.NaN);

    /// <summary>Expected layers until <paramref name="key"/> is next used.</summary>
    public double Distance(ExpertKey key)
    {
        int i = key.Layer * _experts + key.Expert;
        int delta = ((key.Layer - _current) % _layers + _layers) % _layers;
        if (delta == 0) delta = _layers; // this layer is running: its next visit is a cycle away
        double p = Math.Max(MinRate, Math.Min(1, _rate[i]));
        double c = float.IsNaN(_confidence[i]) ? p : _confidence[i];
        return delta + (1 - c) * _layers / p;
    }
}

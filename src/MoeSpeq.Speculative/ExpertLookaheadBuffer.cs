using MoeSpeq.Experts.Prediction;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative;

/// <summary>
/// The Expert Lookahead Buffer of a speculation cycle: for each draft depth d (1..k) and MoE layer l, the experts the
/// draft routed to and the router's confidence in each, k × L entries of (expert id, confidence). The draft fills it
/// while it runs; the prefetcher reads it as it fills, and at verification it is compared with the target's own
/// routing (precision and recall). Sized once; filling and reading allocate nothing.
/// </summary>
public sealed class ExpertLookaheadBuffer
{
    readonly int _layers, _expertsUsed, _experts;
    readonly int[] _ids;           // [depth, layer, k]
    readonly float[] _confidence;  // [depth, layer, k]
    readonly bool[] _filled;       // [depth, layer]
    readonly int[] _unionStamp;    // [layer, experts]: the stamp of the last union an expert was counted in
    int _stamp;

    public ExpertLookaheadBuffer(int maxDepth, int layers, int expertsPerLayer, int expertsUsed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDepth, 1);
        MaxDepth = maxDepth;
        _layers = layers;
        _experts = expertsPerLayer;
        _expertsUsed = expertsUsed;
        _ids = new int[maxDepth * layers * expertsUsed];
        _confidence = new float[maxDepth * layers * expertsUsed];
        _filled = new bool[maxDepth * layers];
        _unionStamp = new int[layers * expertsPerLayer];
    }

    public int MaxDepth { get; }
    public int Layers => _layers;
    public int ExpertsUsed => _expertsUsed;
    public int ExpertsPerLayer => _experts;

    /// <summary>Depths recorded this cycle: the deepest depth with any entry.</summary>
    public int Depth { get; private set; }

    /// <summary>A new cycle: forgets every entry.</summary>
    public void Clear()
    {
        Array.Clear(_filled);
        Depth = 0;
    }

    /// <summary>
    /// The draft at <paramref name="depth"/> (1-based) routed <paramref name="layer"/> to <paramref name="ids"/> with
    /// router weights <paramref name="confidence"/> ([k] each). Each entry goes at once to <paramref name="prefetch"/>
    /// (the target's offloaded executor; null when its experts are resident), so that it is read while the draft runs.
    /// </summary>
    public void Record(int depth, int layer, ReadOnlySpan<int> ids, ReadOnlySpan<float> confidence, IPrefetchSink? prefetch = null)
    {
        if (depth < 1 || depth > MaxDepth) throw new ArgumentOutOfRangeException(nameof(depth), depth, $"depth must be in 1..{MaxDepth}");
        if ((uint)layer >= (uint)_layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer must be in 0..{_layers - 1}");
        int k = Math.Min(ids.Length, _expertsUsed);
        int at = ((depth - 1) * _layers + layer) * _expertsUsed;
        ids[..k].CopyTo(_ids.AsSpan(at, k));
        confidence[..k].CopyTo(_confidence.AsSpan(at, k));
        if (k < _expertsUsed) _ids.AsSpan(at + k, _expertsUsed - k).Fill(-1);
        _filled[(depth - 1) * _layers + layer] = true;
        if (depth > Depth) Depth = depth;
        if (prefetch is null) return;
        for (int j = 0; j < k; j++) prefetch.Predict(new ExpertKey(layer, ids[j]), 0, confidence[j]);
    }

    /// <summary>Whether the draft routed <paramref name="layer"/> at <paramref name="depth"/> this cycle.</summary>
    public bool Has(int depth, int layer) => depth >= 1 && depth <= Depth && _filled[(depth - 1) * _layers + layer];

    /// <summary>The experts of (depth, layer), [k]; −1 marks an unused entry.</summary>
    public ReadOnlySpan<int> Experts(int depth, int layer) => _ids.AsSpan(((depth - 1) * _layers + layer) * _expertsUsed, _expertsUsed);

    /// <summary>The router confidences of (depth, layer), [k].</summary>
    public ReadOnlySpan<float> Confidences(int depth, int layer) => _confidence.AsSpan(((depth - 1) * _layers + layer) * _expertsUsed, _expertsUsed);

    /// <summary>
    /// Writes into <paramref name="cumulative"/>[d − 1], for d = 1..<see cref="Depth"/>, how many distinct experts
    /// depths 1..d need over all layers for which <paramref name="isCached"/> is false: |E_new(d)|, the experts a
    /// verification of depth d must still bring in. Allocation-free.
    /// </summary>
    public void CountNewExperts(Func<ExpertKey, bool> isCached, Span<int> cumulative)
    {
        _stamp++;
        int count = 0;
        for (int d = 1; d <= Depth && d - 1 < cumulative.Length; d++)
        {
            for (int l = 0; l < _layers; l++)
            {
                if (!Has(d, l)) continue;
                foreach (int e in Experts(d, l))
                {
                    if (e < 0) continue;
                    ref int seen = ref _unionStamp[l * _experts + e];
                    if (seen == _stamp) continue;
                    seen = _stamp;
                    if (!isCached(new ExpertKey(l, e))) count++;
                }
            }
            cumulative[d - 1] = count;
        }
    }
}

using System.Diagnostics;
using System.Numerics.Tensors;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// Scaled dot-product attention of a batch of query positions over the KV cache with a causal mask and grouped
/// query heads, optionally limited to a sliding window of recent positions and with a learned per-head sink logit in
/// the softmax (gpt-oss). Work is split over (position, head) pairs on the compute pool; each pair is independent.
/// </summary>
public sealed unsafe class CausalAttention : IParallelTask
{
    [ThreadStatic] static float[]? t_scores;

    int _heads, _group, _keyLength, _valueLength, _startPos, _window, _batch;
    float _scale;
    float* _q, _keys, _values, _out;
    float[]? _sinks;
    int _keyWidth, _valueWidth, _valueHeadStride; // row strides of keys and values; offset of one value head in a row

    /// <summary>
    /// out[t, h, :] = Σ_p softmax_p(scale · q[t, h]·K[p, h/group]) · V[p, h/group] over the visible positions p: all of
    /// p ≤ startPos + t, or with a <paramref name="window"/> &gt; 0 only the last <paramref name="window"/> of them
    /// (startPos + t − window &lt; p). With <paramref name="sinks"/> ([heads]) head h's softmax denominator also holds
    /// e^sinks[h], as if a key with that logit and a zero value were always visible: a head can then attend to nothing.
    /// q: [batch, heads·keyLength] (already rotated); keys/values: the layer's cache rows, already holding the
    /// batch's own positions; out: [batch, heads·valueLength]. With <paramref name="valuesInKeys"/> the values are
    /// not stored apart (MLA, whose values are its latent keys): V[p, g] is the first valueLength columns of K[p, g],
    /// and <paramref name="values"/> is the key rows [positions, kvHeads·keyLength].
    /// </summary>
    public void Compute(ComputePool pool, ReadOnlySpan<float> q, Span<float> keys, Span<float> values, Span<float> output,
        int batch, int startPos, int heads, int kvHeads, int keyLength, int valueLength, float scale,
        float[]? sinks = null, int window = 0, bool valuesInKeys = false)
    {
        Debug.Assert(q.Length >= batch * heads * keyLength && output.Length >= batch * heads * valueLength);
        Debug.Assert(keys.Length >= (startPos + batch) * kvHeads * keyLength);
        Debug.Assert(!valuesInKeys || valueLength <= keyLength);
        int valueHeadStride = valuesInKeys ? keyLength : valueLength;
        Debug.Assert(values.Length >= (startPos + batch) * kvHeads * valueHeadStride);
        Debug.Assert(sinks is null || sinks.Length >= heads);
        Debug.Assert(window >= 0);
        fixed (float* pq = q, pk = keys, pv = values, po = output)
        {
            _q = pq;
            _keys = pk;
            _values = pv;
            _out = po;
            (_heads, _group, _keyLength, _valueLength, _startPos, _scale) = (heads, heads / kvHeads, keyLength, valueLength, startPos, scale);
            (_keyWidth, _valueWidth, _valueHeadStride) = (kvHeads * keyLength, kvHeads * valueHeadStride, valueHeadStride);
            (_sinks, _window) = (sinks, window);
            _batch = batch;
            pool.Run(this, batch * heads);
            _q = _keys = _values = _out = null;
            _sinks = null;
        }
    }

    void IParallelTask.Execute(int index)
    {
        // Head-major: the threads work through every position of one head, then the next head of the same KV group,
        // so that group's cached keys and values stay in the core's cache instead of being fetched again per position.
        int h = index / _batch, t = index % _batch, kvHead = h / _group;
        int pos = _startPos + t;
        // Positions outside the window are masked to −∞ in llama.cpp: they add nothing to the max or the sum.
        int first = _window > 0 ? Math.Max(0, pos - _window + 1) : 0;
        int nKeys = pos + 1 - first;
        var scores = t_scores is { } s && s.Length >= nKeys ? s : (t_scores = new float[Math.Max(nKeys, 256) * 2]);
        var query = new ReadOnlySpan<float>(_q + ((long)t * _heads + h) * _keyLength, _keyLength);

        var keys = new ReadOnlySpan<float>(_keys + (long)first * _keyWidth + kvHead * _keyLength, (nKeys - 1) * _keyWidth + _keyLength);
        var probabilities = scores.AsSpan(0, nKeys);
        AttentionKernels.Scores(query, keys, _keyWidth, _scale, probabilities);
        // Softmax in vector passes: a long prompt takes one exponential per (query, key), and one at a time they
        // cost more than the dot products.
        float max = TensorPrimitives.Max(probabilities);
        float sink = _sinks is { } sk ? sk[h] : float.NegativeInfinity;
        if (sink > max) max = sink;
        TensorPrimitives.Subtract(probabilities, max, probabilities);
        TensorPrimitives.Exp(probabilities, probabilities);
        double sum = TensorPrimitives.Sum(probabilities);
        if (_sinks is not null) sum += MathF.Exp(sink - max);
        TensorPrimitives.Multiply(probabilities, (float)(1.0 / sum), probabilities);

        var values = new ReadOnlySpan<float>(_values + (long)first * _valueWidth + kvHead * _valueHeadStride, (nKeys - 1) * _valueWidth + _valueLength);
        var output = new Span<float>(_out + ((long)t * _heads + h) * _valueLength, _valueLength);
        AttentionKernels.WeightedSum(probabilities, values, _valueWidth, output);
    }
}

using System.Diagnostics;
using System.Numerics.Tensors;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// Scaled dot-product attention of a batch of query positions over the KV cache with a causal mask and grouped
/// query heads. Work is split over (position, head) pairs on the compute pool; each pair is independent.
/// </summary>
public sealed unsafe class CausalAttention : IParallelTask
{
    [ThreadStatic] static float[]? t_scores;

    int _heads, _group, _keyLength, _valueLength, _startPos;
    float _scale;
    float* _q, _keys, _values, _out;
    int _keyWidth, _valueWidth;

    /// <summary>
    /// out[t, h, :] = Σ_p softmax_p(scale · q[t, h]·K[p, h/group]) · V[p, h/group] over p ≤ startPos + t.
    /// q: [batch, heads·keyLength] (already rotated); keys/values: the layer's cache rows, already holding the
    /// batch's own positions; out: [batch, heads·valueLength].
    /// </summary>
    public void Compute(ComputePool pool, ReadOnlySpan<float> q, Span<float> keys, Span<float> values, Span<float> output,
        int batch, int startPos, int heads, int kvHeads, int keyLength, int valueLength, float scale)
    {
        Debug.Assert(q.Length >= batch * heads * keyLength && output.Length >= batch * heads * valueLength);
        Debug.Assert(keys.Length >= (startPos + batch) * kvHeads * keyLength);
        fixed (float* pq = q, pk = keys, pv = values, po = output)
        {
            _q = pq;
            _keys = pk;
            _values = pv;
            _out = po;
            (_heads, _group, _keyLength, _valueLength, _startPos, _scale) = (heads, heads / kvHeads, keyLength, valueLength, startPos, scale);
            (_keyWidth, _valueWidth) = (kvHeads * keyLength, kvHeads * valueLength);
            pool.Run(this, batch * heads);
            _q = _keys = _values = _out = null;
        }
    }

    void IParallelTask.Execute(int index)
    {
        int t = index / _heads, h = index % _heads, kvHead = h / _group;
        int nKeys = _startPos + t + 1;
        var scores = t_scores is { } s && s.Length >= nKeys ? s : (t_scores = new float[Math.Max(nKeys, 256) * 2]);
        var query = new ReadOnlySpan<float>(_q + ((long)t * _heads + h) * _keyLength, _keyLength);

        float max = float.NegativeInfinity;
        for (int p = 0; p < nKeys; p++)
        {
            var key = new ReadOnlySpan<float>(_keys + (long)p * _keyWidth + kvHead * _keyLength, _keyLength);
            float score = TensorPrimitives.Dot(query, key) * _scale;
            scores[p] = score;
            if (score > max) max = score;
        }
        double sum = 0;
        for (int p = 0; p < nKeys; p++)
        {
            float e = MathF.Exp(scores[p] - max);
            scores[p] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);

        var output = new Span<float>(_out + ((long)t * _heads + h) * _valueLength, _valueLength);
        output.Clear();
        for (int p = 0; p < nKeys; p++)
        {
            var value = new ReadOnlySpan<float>(_values + (long)p * _valueWidth + kvHead * _valueLength, _valueLength);
            TensorPrimitives.MultiplyAdd(value, scores[p] * inv, output, output);
        }
    }
}

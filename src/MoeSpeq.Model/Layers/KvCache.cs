namespace MoeSpeq.Model.Layers;

/// <summary>
/// Keys and values of every past position, per layer, in F32: K [capacity, keyWidth], V [capacity, valueWidth].
/// Rolling back (speculative rejection, a new prompt) only moves the caller's position: rows past it are
/// overwritten by the next write.
/// </summary>
public sealed class KvCache
{
    readonly float[][] _keys;
    readonly float[][] _values;

    public KvCache(int layers, int capacity, int keyWidth, int valueWidth)
    {
        Capacity = capacity;
        KeyWidth = keyWidth;
        ValueWidth = valueWidth;
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new float[(long)capacity * keyWidth];
            _values[l] = new float[(long)capacity * valueWidth];
        }
    }

    public int Capacity { get; }
    public int KeyWidth { get; }
    public int ValueWidth { get; }

    public long ByteSize => 4L * Capacity * (KeyWidth + ValueWidth) * _keys.Length;

    /// <summary>Keys of <paramref name="layer"/>: [Capacity, KeyWidth].</summary>
    public Span<float> Keys(int layer) => _keys[layer];

    /// <summary>Values of <paramref name="layer"/>: [Capacity, ValueWidth].</summary>
    public Span<float> Values(int layer) => _values[layer];
}

namespace MoeSpeq.Model.Layers;

/// <summary>
/// Keys and values of every past position, per layer, in F32: K [capacity, keyWidth], V [capacity, valueWidth].
/// When <see cref="ValuesInKeys"/> the values are the leading value columns of each key head (MLA's latent kv, as
/// llama.cpp views its K cache) and no value rows are allocated: <see cref="Values"/> is then the key rows themselves.
/// Rolling back (speculative rejection, a new prompt) only moves the caller's position: rows past it are
/// overwritten by the next write.
/// </summary>
public sealed class KvCache
{
    readonly float[][] _keys;
    readonly float[][] _values; // the key arrays again when ValuesInKeys

    public KvCache(int layers, int capacity, int keyWidth, int valueWidth, bool valuesInKeys = false)
    {
        if (valuesInKeys && valueWidth > keyWidth)
            throw new ArgumentOutOfRangeException(nameof(valueWidth), valueWidth, $"values stored in the keys must fit in a key row of {keyWidth}");
        Capacity = capacity;
        KeyWidth = keyWidth;
        ValueWidth = valueWidth;
        ValuesInKeys = valuesInKeys;
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new float[(long)capacity * keyWidth];
            _values[l] = valuesInKeys ? _keys[l] : new float[(long)capacity * valueWidth];
        }
    }

    public int Capacity { get; }
    public int KeyWidth { get; }
    public int ValueWidth { get; }

    /// <summary>Values are read from the key rows (see <see cref="CausalAttention"/>'s <c>valuesInKeys</c>); none are stored apart.</summary>
    public bool ValuesInKeys { get; }

    public long ByteSize => 4L * Capacity * (KeyWidth + (ValuesInKeys ? 0 : ValueWidth)) * _keys.Length;

    /// <summary>Keys of <paramref name="layer"/>: [Capacity, KeyWidth].</summary>
    public Span<float> Keys(int layer) => _keys[layer];

    /// <summary>Values of <paramref name="layer"/>: [Capacity, ValueWidth], or the keys [Capacity, KeyWidth] when <see cref="ValuesInKeys"/>.</summary>
    public Span<float> Values(int layer) => _values[layer];
}

using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary><see cref="CausalAttention"/> against a plain double-precision reference, with and without sinks and a window.</summary>
public sealed class AttentionTests : IDisposable
{
    const int Heads = 4, KvHeads = 2, KeyLength = 8, ValueLength = 6;
    readonly ComputePool _pool = new(2);

    public void Dispose() => _pool.Dispose();

    static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale)];
    }

    /// <summary>
    /// softmax over the visible keys (p ≤ pos, and pos − p &lt; window when window &gt; 0) with e^sink added to each
    /// head's denominator, written out directly from the definition.
    /// </summary>
    static double[] Reference(float[] q, float[] keys, float[] values, int batch, int startPos, float scale, float[]? sinks, int window)
    {
        int group = Heads / KvHeads;
        var output = new double[batch * Heads * ValueLength];
        for (int t = 0; t < batch; t++)
            for (int h = 0; h < Heads; h++)
            {
                int pos = startPos + t, kv = h / group;
                var visible = Enumerable.Range(0, pos + 1).Where(p => window == 0 || pos - p < window).ToArray();
                var logits = visible.Select(p =>
                    scale * Enumerable.Range(0, KeyLength).Sum(i => (double)q[(t * Heads + h) * KeyLength + i] * keys[p * KvHeads * KeyLength + kv * KeyLength + i])).ToArray();
                double max = Math.Max(logits.Max(), sinks?[h] ?? double.NegativeInfinity);
                double denominator = logits.Sum(l => Math.Exp(l - max)) + (sinks is null ? 0 : Math.Exp(sinks[h] - max));
                for (int j = 0; j < visible.Length; j++)
                    for (int i = 0; i < ValueLength; i++)
                        output[(t * Heads + h) * ValueLength + i] += Math.Exp(logits[j] - max) / denominator * values[visible[j] * KvHeads * ValueLength + kv * ValueLength + i];
            }
        return output;
    }

    [Theory]
    [InlineData(false, 0, 0)]
    [InlineData(true, 0, 0)]
    [InlineData(false, 3, 0)]
    [InlineData(true, 3, 0)]
    [InlineData(true, 3, 5)]   // a batch that starts mid-sequence
    [InlineData(true, 1, 5)]   // each position sees only itself
    [InlineData(true, 50, 5)]  // a window longer than the sequence hides nothing
    public void MatchesThePlainDefinition(bool withSinks, int window, int startPos)
    {
        const int batch = 7;
        int positions = startPos + batch;
        var q = Random(batch * Heads * KeyLength, 1);
        var keys = Random(positions * KvHeads * KeyLength, 2);
        var values = Random(positions * KvHeads * ValueLength, 3);
        // Large sinks (up to ±4) make the sink's share of the denominator visible.
        float[]? sinks = withSinks ? Random(Heads, 4, scale: 4f) : null;
        float scale = 1f / MathF.Sqrt(KeyLength);
        var output = new float[batch * Heads * ValueLength];
        new CausalAttention().Compute(_pool, q, keys, values, output, batch, startPos, Heads, KvHeads, KeyLength, ValueLength, scale, sinks, window);
        var expected = Reference(q, keys, values, batch, startPos, scale, sinks, window);
        for (int i = 0; i < output.Length; i++) Assert.Equal(expected[i], output[i], 5e-6);
    }

    [Fact]
    public void ASinkOnlyScalesTheOutputDown()
    {
        // With one visible key the output is V·e^s/(e^s + e^sink): the sink absorbs the rest of the attention.
        var q = Random(Heads * KeyLength, 5);
        var keys = Random(KvHeads * KeyLength, 6);
        var values = Random(KvHeads * ValueLength, 7);
        var plain = new float[Heads * ValueLength];
        var sunk = new float[plain.Length];
        var attention = new CausalAttention();
        attention.Compute(_pool, q, keys, values, plain, 1, 0, Heads, KvHeads, KeyLength, ValueLength, 0.5f);
        float[] sinks = [0f, 1f, -1f, 2f];
        attention.Compute(_pool, q, keys, values, sunk, 1, 0, Heads, KvHeads, KeyLength, ValueLength, 0.5f, sinks);
        for (int h = 0; h < Heads; h++)
        {
            int kv = h / (Heads / KvHeads);
            double score = 0.5 * Enumerable.Range(0, KeyLength).Sum(i => (double)q[h * KeyLength + i] * keys[kv * KeyLength + i]);
            double share = 1 / (1 + Math.Exp(sinks[h] - score));
            for (int i = 0; i < ValueLength; i++)
                Assert.Equal(plain[h * ValueLength + i] * share, sunk[h * ValueLength + i], 5e-6);
        }
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 5)]
    [InlineData(3, 5)]
    public void ValuesReadFromTheKeyRowsEqualASeparateValueCache(int window, int startPos)
    {
        // MLA's layout: the values are the leading ValueLength columns of each key head. Copying those columns into
        // a value cache of their own must give bit-identical outputs, grouped heads and a window included.
        const int batch = 5;
        int positions = startPos + batch;
        var q = Random(batch * Heads * KeyLength, 8);
        var keys = Random(positions * KvHeads * KeyLength, 9);
        var values = new float[positions * KvHeads * ValueLength];
        for (int p = 0; p < positions; p++)
            for (int g = 0; g < KvHeads; g++)
                keys.AsSpan((p * KvHeads + g) * KeyLength, ValueLength).CopyTo(values.AsSpan((p * KvHeads + g) * ValueLength));
        float[] sinks = Random(Heads, 10);
        float scale = 1f / MathF.Sqrt(KeyLength);
        var separate = new float[batch * Heads * ValueLength];
        var shared = new float[separate.Length];
        var attention = new CausalAttention();
        attention.Compute(_pool, q, keys, values, separate, batch, startPos, Heads, KvHeads, KeyLength, ValueLength, scale, sinks, window);
        attention.Compute(_pool, q, keys, keys, shared, batch, startPos, Heads, KvHeads, KeyLength, ValueLength, scale, sinks, window, valuesInKeys: true);
        Assert.Equal(separate, shared);
    }

    [Fact]
    public void ACacheWithValuesInKeysStoresOnlyKeys()
    {
        var separate = new KvCache(3, 16, KeyLength, ValueLength);
        var shared = new KvCache(3, 16, KeyLength, ValueLength, valuesInKeys: true);
        Assert.Equal(4L * 3 * 16 * (KeyLength + ValueLength), separate.ByteSize);
        Assert.Equal(4L * 3 * 16 * KeyLength, shared.ByteSize);
        shared.Keys(1)[5] = 42f;
        Assert.Equal(42f, shared.Values(1)[5]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KvCache(1, 4, ValueLength, KeyLength, valuesInKeys: true));
    }
}

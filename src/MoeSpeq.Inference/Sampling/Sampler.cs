namespace MoeSpeq.Inference.Sampling;

/// <summary>
/// Turns one row of logits into a token id with llama.cpp's default chain: repetition penalty → top-k → top-p →
/// min-p → temperature → a draw from the softmax with a seeded xoshiro256**. As in llama.cpp, temperature comes
/// last, so top-p and min-p judge the untempered distribution. Temperature 0 is greedy: the argmax of the
/// penalised logits, ties to the lowest id.
/// </summary>
/// <remarks>
/// Candidates are ranked by logit, ties to the lower id, so every filter's cut is deterministic.
/// <see cref="Distribution"/> gives the exact distribution <see cref="Sample"/> draws from,
/// p(i) = exp((ℓᵢ − ℓmax)/T) / Σⱼ exp((ℓⱼ − ℓmax)/T) over the surviving candidates j (ℓ penalised), and 0 elsewhere.
/// Logits of −∞ (masked) or NaN are never sampled; +∞ counts as the largest float.
/// Buffers are sized to the vocabulary on first use; after that neither method allocates. One sampler per
/// sequence: it is not thread-safe.
/// </remarks>
public sealed class Sampler
{
    /// <summary>Top-p first ranks this many candidates, then four times as many, until the nucleus is found.</summary>
    const int FirstNucleusGuess = 64;

    readonly SamplerOptions _options;
    Xoshiro256StarStar _rng;
    float[] _logits = [];  // [nVocab] the logits after the repetition penalty
    ulong[] _keys = [];    // [nVocab] candidates as rank keys (see Key); the first `count` survive the filters
    float[] _weights = []; // [nVocab] unnormalised probability of candidate i (same order as _keys)
    int[] _penalisedAt = []; // [nVocab] stamp of the call that last penalised the token: once per distinct token
    int _stamp;

    public Sampler(SamplerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _rng = new Xoshiro256StarStar(options.Seed);
    }

    public SamplerOptions Options => _options;

    /// <summary>
    /// Draws a token from <paramref name="logits"/> [nVocab]; <paramref name="recentTokens"/> are the sequence so
    /// far, oldest first (the penalty looks at the last <see cref="SamplerOptions.RepeatLastN"/>).
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> recentTokens)
    {
        var (count, total) = Filter(logits, recentTokens);
        if (count == 1) return Id(_keys[0]);
        return Id(_keys[Draw(_weights.AsSpan(0, count), total)]);
    }

    /// <summary>
    /// Writes into <paramref name="probabilities"/> [nVocab] the distribution <see cref="Sample"/> would draw from
    /// for the same arguments (one-hot when greedy). Consumes no randomness. Speculative decoding needs this p(x).
    /// </summary>
    public void Distribution(ReadOnlySpan<float> logits, ReadOnlySpan<int> recentTokens, Span<float> probabilities)
    {
        if (probabilities.Length != logits.Length)
            throw new ArgumentException($"{probabilities.Length} probabilities for {logits.Length} logits", nameof(probabilities));
        var (count, total) = Filter(logits, recentTokens);
        probabilities.Clear();
        for (int i = 0; i < count; i++) probabilities[Id(_keys[i])] = (float)(_weights[i] / total);
    }

    /// <summary>
    /// Draws an index with probability proportional to <paramref name="weights"/> (non-negative, not all zero),
    /// from this sampler's random stream: for distributions built outside the chain, such as the residual
    /// max(0, p − q) of speculative rejection sampling.
    /// </summary>
    public int SampleFrom(ReadOnlySpan<float> weights)
    {
        double total = 0;
        foreach (float w in weights)
        {
            if (!(w >= 0)) throw new ArgumentException($"weight {w} is negative or NaN", nameof(weights));
            total += w;
        }
        if (!(total > 0 && double.IsFinite(total))) throw new ArgumentException($"weights sum to {total}", nameof(weights));
        return Draw(weights, total);
    }

    /// <summary>A uniform draw in [0, 1) from this sampler's random stream (the acceptance test of rejection sampling).</summary>
    public double NextUniform() => _rng.NextDouble();

    /// <summary>Inverse-CDF draw over <paramref name="weights"/> summing (in this order, in double) to <paramref name="total"/>.</summary>
    int Draw(ReadOnlySpan<float> weights, double total)
    {
        double target = _rng.NextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i];
            if (target < cumulative) return i;
        }
        // Rounding can leave the target a hair above the last partial sum: the last index with weight takes it.
        int last = weights.Length - 1;
        while (weights[last] == 0) last--;
        return last;
    }

    /// <summary>
    /// Runs the chain up to temperature. Returns how many candidates survive (their keys first in _keys, their
    /// weights first in _weights) and the double sum of those weights.
    /// </summary>
    (int Count, double Total) Filter(ReadOnlySpan<float> logits, ReadOnlySpan<int> recentTokens)
    {
        int nVocab = logits.Length;
        if (nVocab == 0) throw new ArgumentException("no logits", nameof(logits));
        EnsureCapacity(nVocab);
        var work = _logits.AsSpan(0, nVocab);
        logits.CopyTo(work);
        ApplyRepeatPenalty(work, recentTokens);

        if (_options.IsGreedy)
        {
            int best = Argmax(work);
            _keys[0] = Key(work[best], best);
            _weights[0] = 1;
            return (1, 1);
        }

        int count = 0;
        float max = float.NegativeInfinity;
        for (int id = 0; id < nVocab; id++)
        {
            float l = work[id];
            if (!(l > float.NegativeInfinity)) continue;
            if (l == float.PositiveInfinity) work[id] = l = float.MaxValue;
            _keys[count++] = Key(l, id);
            max = Math.Max(max, l);
        }
        if (count == 0) throw new ArgumentException("every logit is -∞ or NaN", nameof(logits));
        var keys = _keys.AsSpan();
        bool ranked = false; // whether keys[..count] is in rank order

        int topK = _options.TopK;
        if (topK > 0 && topK < count)
        {
            RankFirst(keys[..count], topK);
            count = topK;
            ranked = true;
        }

        if (_options.TopP < 1)
        {
            // The nucleus: the shortest ranked prefix whose softmax mass (over the candidates left) reaches p.
            double z = 0;
            for (int i = 0; i < count; i++) z += MathF.Exp(work[Id(keys[i])] - max);
            double goal = _options.TopP * z;
            int m = ranked ? count : Math.Min(count, FirstNucleusGuess);
            while (true)
            {
                if (!ranked) RankFirst(keys[..count], m);
                double cumulative = 0;
                int i = 0;
                while (i < m && (cumulative += MathF.Exp(work[Id(keys[i])] - max)) < goal) i++;
                if (i < m)
                {
                    count = i + 1;
                    break;
                }
                // All candidates and rounding left the sum a hair short of p·z: keep them all.
                if (m == count) break;
                m = (int)Math.Min(count, 4L * m);
            }
            ranked = true;
        }

        if (_options.MinP > 0)
        {
            // p(i) ≥ minP · p(max)  ⇔  ℓᵢ ≥ ℓmax + ln(minP); the maximum always survives.
            float threshold = max + MathF.Log(_options.MinP);
            if (ranked)
            {
                while (work[Id(keys[count - 1])] < threshold) count--;
            }
            else
            {
                int kept = 0;
                for (int i = 0; i < count; i++)
                    if (work[Id(keys[i])] >= threshold) keys[kept++] = keys[i];
                count = kept;
            }
        }

        // Divided, not multiplied by 1/T: a tiny T would make 1/T infinite and 0 · ∞ NaN for the maximum.
        float temperature = _options.Temperature;
        double total = 0;
        for (int i = 0; i < count; i++)
        {
            float w = MathF.Exp((work[Id(keys[i])] - max) / temperature);
            _weights[i] = w;
            total += w;
        }
        return (count, total);
    }

    /// <summary>llama.cpp's penalty: once per distinct recent token, a positive logit is divided by the penalty, any other multiplied.</summary>
    void ApplyRepeatPenalty(Span<float> work, ReadOnlySpan<int> recentTokens)
    {
        float penalty = _options.RepeatPenalty;
        int lastN = _options.RepeatLastN;
        if (penalty == 1 || lastN == 0 || recentTokens.IsEmpty) return;
        if (lastN > 0 && recentTokens.Length > lastN) recentTokens = recentTokens[^lastN..];
        if (++_stamp == int.MaxValue)
        {
            Array.Clear(_penalisedAt);
            _stamp = 1;
        }
        foreach (int token in recentTokens)
        {
            if ((uint)token >= (uint)work.Length)
                throw new ArgumentOutOfRangeException(nameof(recentTokens), token, $"token id outside the vocabulary of {work.Length}");
            if (_penalisedAt[token] == _stamp) continue;
            _penalisedAt[token] = _stamp;
            float l = work[token];
            work[token] = l > 0 ? l / penalty : l * penalty;
        }
    }

    /// <summary>The first id of the largest logit; -∞ and NaN never win.</summary>
    static int Argmax(ReadOnlySpan<float> logits)
    {
        int best = -1;
        float bestLogit = float.NegativeInfinity;
        for (int id = 0; id < logits.Length; id++)
        {
            if (logits[id] > bestLogit)
            {
                bestLogit = logits[id];
                best = id;
            }
        }
        if (best < 0) throw new ArgumentException("every logit is -∞ or NaN", nameof(logits));
        return best;
    }

    void EnsureCapacity(int nVocab)
    {
        if (_logits.Length >= nVocab) return;
        _logits = new float[nVocab];
        _keys = new ulong[nVocab];
        _weights = new float[nVocab];
        _penalisedAt = new int[nVocab];
        _stamp = 0;
    }

    /// <summary>
    /// A candidate's rank as one integer: the high half orders logits descending, the low half ids ascending, so
    /// sorting keys ascending ranks by logit with ties to the lower id, with no comparer.
    /// </summary>
    static ulong Key(float logit, int id)
    {
        if (logit == 0) logit = 0; // -0 and +0 are the same logit and must tie
        uint bits = BitConverter.SingleToUInt32Bits(logit);
        // Flipping the sign bit of positives and every bit of negatives makes the unsigned order the float order.
        uint ascending = (bits & 0x8000_0000) != 0 ? ~bits : bits | 0x8000_0000;
        return ((ulong)~ascending << 32) | (uint)id;
    }

    static int Id(ulong key) => (int)(uint)key;

    /// <summary>
    /// Moves the <paramref name="m"/> best-ranked (smallest) keys to the front, in rank order; the rest follow in
    /// no order. O(n log m) by a bounded max-heap, or a full sort when m is a large part of n.
    /// </summary>
    static void RankFirst(Span<ulong> keys, int m)
    {
        if (m >= keys.Length / 4)
        {
            keys.Sort();
            return;
        }
        var heap = keys[..m];
        for (int i = m / 2 - 1; i >= 0; i--) SiftDown(heap, i);
        for (int i = m; i < keys.Length; i++)
        {
            if (keys[i] < heap[0])
            {
                (keys[i], heap[0]) = (heap[0], keys[i]);
                SiftDown(heap, 0);
            }
        }
        heap.Sort();
    }

    /// <summary>Restores the max-heap property below <paramref name="i"/>.</summary>
    static void SiftDown(Span<ulong> heap, int i)
    {
        ulong value = heap[i];
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= heap.Length) break;
            if (child + 1 < heap.Length && heap[child + 1] > heap[child]) child++;
            if (heap[child] <= value) break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = value;
    }
}

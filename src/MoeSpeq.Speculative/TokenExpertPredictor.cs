using System.Diagnostics;
using MoeSpeq.Experts.Prediction;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative;

/// <summary>Sizes and decay of a <see cref="TokenExpertPredictor"/>; policy data, chosen at the edge.</summary>
public sealed record TokenExpertPredictorOptions
{
    /// <summary>(expert, score) entries kept per (token, MoE layer), at least the experts a token uses and at most 64; 0 keeps twice that.</summary>
    public int EntriesPerToken { get; init; }

    /// <summary>
    /// Per observation of a layer, the weight of everything that layer saw before is multiplied by this: a count seen
    /// n observations ago weighs Decay^n (0.999: half-life ≈ 690 tokens).
    /// </summary>
    public double Decay { get; init; } = 0.999;

    /// <summary>Memory for the per-token tables. Tokens beyond what fits take the rows of tokens not seen lately (CLOCK).</summary>
    public long MaxBytes { get; init; } = 16 << 20;
}

/// <summary>
/// Which experts the target routes a token to, learned online from the target's own routing, so that a draft with no
/// routers (a separate, dense draft model) can still forecast the experts its tokens will need. For each input token
/// id and MoE layer it keeps a few decayed counts of the experts the target chose for that token; for each layer, the
/// decayed counts over all tokens, which stand in for a token it has not seen. Sized once at construction; observing
/// and predicting allocate nothing.
/// </summary>
/// <remarks>
/// Counts decay without being touched: an observation of layer l adds w_l to its entries and w_l grows by 1/Decay
/// per observation (rescaled to 1 when large), so an entry holds Σ Decay^(n − i) over the observations i that chose it,
/// up to the common factor w_l. The confidence of expert e for token t at layer l is
/// score(t, l, e) / total(t, l), the decayed share of t's occurrences the target routed to e; a fallback expert's
/// is freq(l, e) / total(l), its share over all tokens. When a (token, layer) row is full a new expert takes the place
/// of the weakest entry; its total keeps counting, so the confidences of the entries left stay calibrated.
/// </remarks>
public sealed class TokenExpertPredictor
{
    const float RescaleAbove = 1e15f;

    readonly int _vocab, _layers, _experts, _k, _slots, _rows, _moe;
    readonly float _growth;             // 1 / Decay
    readonly int[] _moeIndex;           // [layers]: index among MoE layers, or −1
    readonly int[] _moeLayers;          // [moe]: layer of each MoE index
    readonly int[] _rowOf;              // [vocab]: the token's row, or −1
    readonly int[] _tokenOf;            // [rows]
    readonly bool[] _referenced;        // [rows]: CLOCK bits
    readonly int[] _entryExpert;        // [rows, moe, slots]; −1 empty
    readonly float[] _entryScore;       // [rows, moe, slots]
    readonly float[] _rowTotal;         // [rows, moe]
    readonly float[] _layerFreq;        // [moe, experts]
    readonly float[] _layerTotal;       // [moe]
    readonly float[] _increment;        // [moe]: w_l
    readonly int _frequentWidth;
    readonly int[] _frequent;           // [moe, frequentWidth]: most frequent experts, best first
    readonly int[] _frequentCount;      // [moe]
    readonly bool[] _frequentStale;     // [moe]
    readonly int[] _ids;                // [k] scratch of one prediction
    readonly float[] _confidence;       // [k]
    readonly long _fixedBytes, _rowBytes;
    int _usedRows, _hand;

    /// <param name="vocabSize">Token ids are 0..vocabSize − 1.</param>
    /// <param name="layers">Layers of the target, dense ones included.</param>
    /// <param name="moeLayers">The layers that route to experts.</param>
    /// <param name="experts">Experts per MoE layer.</param>
    /// <param name="expertsUsed">Experts a token uses per layer (top-k): the size of a prediction.</param>
    public TokenExpertPredictor(int vocabSize, int layers, IEnumerable<int> moeLayers, int experts, int expertsUsed, TokenExpertPredictorOptions? options = null)
    {
        options ??= new TokenExpertPredictorOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        if (expertsUsed < 1 || expertsUsed > experts) throw new ArgumentOutOfRangeException(nameof(expertsUsed), expertsUsed, $"must be in 1..{experts}");
        if (!(options.Decay > 0 && options.Decay <= 1)) throw new ArgumentOutOfRangeException(nameof(options), options.Decay, "Decay must be in (0, 1]");
        int slots = options.EntriesPerToken == 0 ? Math.Min(2 * expertsUsed, 64) : options.EntriesPerToken;
        if (slots < expertsUsed || slots > 64)
            throw new ArgumentOutOfRangeException(nameof(options), slots, $"EntriesPerToken must be in {expertsUsed}..64 (the experts a token uses, at most 64)");

        _vocab = vocabSize;
        _layers = layers;
        _experts = experts;
        _k = expertsUsed;
        _slots = slots;
        _growth = (float)(1 / options.Decay);
        _moeIndex = new int[layers];
        Array.Fill(_moeIndex, -1);
        var moe = moeLayers.Distinct().Order().ToArray();
        foreach (int l in moe)
            if ((uint)l >= (uint)layers) throw new ArgumentOutOfRangeException(nameof(moeLayers), l, $"a MoE layer must be in 0..{layers - 1}");
        for (int m = 0; m < moe.Length; m++) _moeIndex[moe[m]] = m;
        _moeLayers = moe;
        _moe = moe.Length;

        _frequentWidth = Math.Min(experts, 2 * expertsUsed);
        // The budget pays for the per-layer tables and the token map first, then for as many token rows as fit.
        long perRow = (long)_moe * (slots * (sizeof(int) + sizeof(float)) + sizeof(float)) + sizeof(int) + sizeof(bool);
        long fixedBytes = (long)vocabSize * sizeof(int) + (long)_moe * ((experts + 2) * sizeof(float) + (_frequentWidth + 1) * sizeof(int) + sizeof(bool));
        _rows = (int)Math.Clamp((options.MaxBytes - fixedBytes) / perRow, 1, vocabSize);
        _fixedBytes = fixedBytes;
        _rowBytes = perRow;
        _rowOf = new int[vocabSize];
        Array.Fill(_rowOf, -1);
        _tokenOf = new int[_rows];
        _referenced = new bool[_rows];
        _entryExpert = new int[_rows * _moe * slots];
        Array.Fill(_entryExpert, -1);
        _entryScore = new float[_rows * _moe * slots];
        _rowTotal = new float[_rows * _moe];
        _layerFreq = new float[_moe * experts];
        _layerTotal = new float[_moe];
        _increment = new float[_moe];
        Array.Fill(_increment, 1f);
        _frequent = new int[_moe * _frequentWidth];
        _frequentCount = new int[_moe];
        _frequentStale = new bool[_moe];
        _ids = new int[expertsUsed];
        _confidence = new float[expertsUsed];
    }

    /// <summary>Experts a prediction names per layer: the target's top-k.</summary>
    public int ExpertsUsed => _k;
    public int EntriesPerToken => _slots;
    /// <summary>Tokens the tables hold at once; the vocabulary size when all fit.</summary>
    public int TokenCapacity => _rows;
    /// <summary>Tokens seen so far that hold a row now.</summary>
    public int TrackedTokens => _usedRows;
    /// <summary>The layers that route to experts, in order.</summary>
    public ReadOnlySpan<int> MoeLayers => _moeLayers;

    /// <summary>Memory of the tables, bytes: fixed at construction, at most <see cref="TokenExpertPredictorOptions.MaxBytes"/> unless one row alone exceeds it.</summary>
    public long Bytes => _fixedBytes + _rows * _rowBytes;

    /// <summary>
    /// The target routed <paramref name="token"/> at <paramref name="layer"/> to <paramref name="experts"/> ([k],
    /// distinct): counts them for the token and for the layer. A dense layer is ignored.
    /// </summary>
    public void Observe(int token, int layer, ReadOnlySpan<int> experts)
    {
        if ((uint)token >= (uint)_vocab) throw new ArgumentOutOfRangeException(nameof(token), token, $"token ids are 0..{_vocab - 1}");
        if ((uint)layer >= (uint)_layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layers are 0..{_layers - 1}");
        int m = _moeIndex[layer];
        if (m < 0) return;
        float w = _increment[m] *= _growth;
        if (w > RescaleAbove)
        {
            Rescale(m);
            w = _increment[m];
        }

        int row = RowFor(token);
        _referenced[row] = true;
        int at = (row * _moe + m) * _slots;
        var ids = _entryExpert.AsSpan(at, _slots);
        var scores = _entryScore.AsSpan(at, _slots);
        ulong touched = 0; // slots counted by this observation: never the weakest to replace
        var freq = _layerFreq.AsSpan(m * _experts, _experts);
        foreach (int e in experts)
        {
            if ((uint)e >= (uint)_experts) continue;
            int slot = ids.IndexOf(e);
            if (slot >= 0) scores[slot] += w;
            else
            {
                slot = Weakest(scores, touched);
                ids[slot] = e;
                scores[slot] = w;
            }
            touched |= 1UL << slot;
            freq[e] += w;
        }
        _rowTotal[row * _moe + m] += w;
        _layerTotal[m] += w;
        _frequentStale[m] = true;
    }

    /// <summary>
    /// Writes the experts expected for <paramref name="token"/> at <paramref name="layer"/>, most likely first, with
    /// their confidence (0..1); returns how many were written, at most <paramref name="experts"/>.Length: the token's
    /// own experts, then the layer's most frequent ones. Zero before the layer has been observed at all.
    /// </summary>
    public int Predict(int token, int layer, Span<int> experts, Span<float> confidence)
    {
        int n = Math.Min(experts.Length, confidence.Length);
        if ((uint)layer >= (uint)_layers) return 0;
        int m = _moeIndex[layer];
        if (m < 0) return 0;
        int count = 0;
        int row = (uint)token < (uint)_vocab ? _rowOf[token] : -1;
        if (row >= 0 && _rowTotal[row * _moe + m] is var total && total > 0)
        {
            _referenced[row] = true;
            int at = (row * _moe + m) * _slots;
            var ids = _entryExpert.AsSpan(at, _slots);
            var scores = _entryScore.AsSpan(at, _slots);
            ulong taken = 0;
            while (count < n)
            {
                int best = -1;
                for (int s = 0; s < _slots; s++)
                {
                    if (ids[s] < 0 || scores[s] <= 0 || (taken & (1UL << s)) != 0) continue;
                    if (best < 0 || scores[s] > scores[best] || (scores[s] == scores[best] && ids[s] < ids[best])) best = s;
                }
                if (best < 0) break;
                taken |= 1UL << best;
                experts[count] = ids[best];
                confidence[count++] = Math.Min(scores[best] / total, 1f);
            }
        }
        if (count < n && _layerTotal[m] > 0)
        {
            var frequent = Frequent(m);
            var freq = _layerFreq.AsSpan(m * _experts, _experts);
            foreach (int e in frequent)
            {
                if (count == n) break;
                if (experts[..count].Contains(e)) continue;
                experts[count] = e;
                confidence[count++] = Math.Min(freq[e] / _layerTotal[m], 1f);
            }
        }
        return count;
    }

    /// <summary>
    /// The forecast for a drafted token: for every MoE layer, its top-k experts recorded in <paramref name="elb"/> at
    /// <paramref name="depth"/> (1-based) and handed to <paramref name="prefetch"/> (the target's offloaded executor;
    /// null when its experts are resident).
    /// </summary>
    public void Predict(int token, int depth, ExpertLookaheadBuffer elb, IPrefetchSink? prefetch)
    {
        int k = Math.Min(_k, elb.ExpertsUsed);
        foreach (int layer in _moeLayers)
        {
            if (layer >= elb.Layers) break;
            int n = Predict(token, layer, _ids.AsSpan(0, k), _confidence.AsSpan(0, k));
            elb.Record(depth, layer, _ids.AsSpan(0, n), _confidence.AsSpan(0, n), prefetch);
        }
    }

    /// <summary>The row of <paramref name="token"/>, taking a free one or, when all are held, one CLOCK finds unused lately.</summary>
    int RowFor(int token)
    {
        int row = _rowOf[token];
        if (row >= 0) return row;
        if (_usedRows < _rows) row = _usedRows++;
        else
        {
            while (_referenced[_hand])
            {
                _referenced[_hand] = false;
                _hand = (_hand + 1) % _rows;
            }
            row = _hand;
            _hand = (_hand + 1) % _rows;
            _rowOf[_tokenOf[row]] = -1;
            int at = row * _moe * _slots;
            _entryExpert.AsSpan(at, _moe * _slots).Fill(-1);
            _entryScore.AsSpan(at, _moe * _slots).Clear();
            _rowTotal.AsSpan(row * _moe, _moe).Clear();
        }
        _tokenOf[row] = token;
        _rowOf[token] = row;
        return row;
    }

    /// <summary>The slot to give a new expert: an empty one, else the lowest score not counted by this observation.</summary>
    int Weakest(ReadOnlySpan<float> scores, ulong touched)
    {
        int weakest = -1;
        for (int s = 0; s < _slots; s++)
        {
            if ((touched & (1UL << s)) != 0) continue;
            if (weakest < 0 || scores[s] < scores[weakest]) weakest = s;
        }
        // The constructor keeps slots ≥ k, so a slot not counted yet is always left.
        Debug.Assert(weakest >= 0);
        return weakest;
    }

    /// <summary>Divides every count of MoE layer <paramref name="m"/> by its increment, which starts again at 1.</summary>
    void Rescale(int m)
    {
        float scale = 1 / _increment[m];
        for (int row = 0; row < _usedRows; row++)
        {
            foreach (ref float s in _entryScore.AsSpan((row * _moe + m) * _slots, _slots)) s *= scale;
            _rowTotal[row * _moe + m] *= scale;
        }
        foreach (ref float f in _layerFreq.AsSpan(m * _experts, _experts)) f *= scale;
        _layerTotal[m] *= scale;
        _increment[m] = 1;
    }

    /// <summary>The layer's most frequent experts (positive counts only), best first, recomputed after it was observed.</summary>
    ReadOnlySpan<int> Frequent(int m)
    {
        var list = _frequent.AsSpan(m * _frequentWidth, _frequentWidth);
        if (!_frequentStale[m]) return list[.._frequentCount[m]];
        var freq = _layerFreq.AsSpan(m * _experts, _experts);
        int count = 0, previous = -1;
        // Selection in the order (count desc, id asc): each pick is the best expert ranked after the previous pick.
        while (count < _frequentWidth)
        {
            int best = -1;
            for (int e = 0; e < _experts; e++)
            {
                if (freq[e] <= 0) continue;
                if (previous >= 0 && !(freq[e] < freq[previous] || (freq[e] == freq[previous] && e > previous))) continue;
                if (best < 0 || freq[e] > freq[best] || (freq[e] == freq[best] && e < best)) best = e;
            }
            if (best < 0) break;
            list[count++] = previous = best;
        }
        _frequentCount[m] = count;
        _frequentStale[m] = false;
        return list[..count];
    }
}

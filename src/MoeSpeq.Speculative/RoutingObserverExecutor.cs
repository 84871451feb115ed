using MoeSpeq.Experts;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative;

/// <summary>
/// Wraps the target's expert executor to learn from its routing: every layer is forwarded unchanged to the inner
/// executor (resident or offloaded), and the experts each row of the pass was routed to are reported to a
/// <see cref="TokenExpertPredictor"/> under that row's input token. While a speculation cycle's Expert Lookahead
/// Buffer is filled, the pass is its verification, and the buffer is scored against it into
/// <see cref="SpeculationStats"/>.
/// </summary>
/// <remarks>
/// Executors are not given token ids, so whoever knows them announces each target pass with <see cref="ExpectPass"/>:
/// its first position and the tokens of its first rows, as far as known. A <see cref="ModelDraft"/> announces a
/// verification at <see cref="ModelDraft.End"/> (every row but the last draft, which the draft never saw) and, after
/// <see cref="ModelDraft.Accepted"/>, a plain step at the kept length with no tokens; a new sequence (the prefill)
/// starts at position 0 with no tokens. Rows whose token is not known yet are held by position, in a ring of
/// <c>pendingCapacity</c> rows, until <see cref="Resolve"/> names the tokens the target kept (the draft does at the
/// next <see cref="ModelDraft.Begin"/>); a row evaluated again later replaces the held one, and rows past the kept
/// length are dropped. A pass split into chunks (longer than the model's batch) is followed by the layer order: a
/// layer at or below the last one seen starts the next chunk. Observing allocates nothing once the token buffer has
/// grown to the longest announcement.
/// </remarks>
public sealed class RoutingObserverExecutor : IExpertExecutor, ICancellableExpertExecutor, IDisposable
{
    readonly IExpertExecutor _inner;
    readonly TokenExpertPredictor _predictor;
    readonly ExpertLookaheadBuffer _elb;
    readonly SpeculationStats _stats;
    readonly LookaheadScorer _scorer;
    readonly int _layers, _k, _capacity;
    readonly int[] _heldPosition;   // [capacity]: position of the held row in each ring slot, or −1
    readonly int[] _heldIds;        // [capacity, layers, k]
    readonly bool[] _heldLayer;     // [capacity, layers]: whether the layer's routing of the row is held
    int _held;                      // ring slots in use
    int[] _known = new int[16];     // tokens of the announced pass's first rows
    int _knownCount;
    int _passStart = -1;            // position of the pass's first row; −1 when not announced
    int _rowOffset, _chunkTokens, _lastLayer;

    /// <param name="inner">The executor that computes the experts.</param>
    /// <param name="elb">The cycle's lookahead buffer, which a draft fills and verification is scored against.</param>
    /// <param name="pendingCapacity">Rows whose token is not yet known that are kept for <see cref="Resolve"/> (the most recent positions).</param>
    public RoutingObserverExecutor(IExpertExecutor inner, TokenExpertPredictor predictor, ExpertLookaheadBuffer elb, SpeculationStats stats, int pendingCapacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pendingCapacity, 1);
        _inner = inner;
        _predictor = predictor;
        _elb = elb;
        _stats = stats;
        _scorer = new LookaheadScorer(elb.ExpertsPerLayer);
        _layers = elb.Layers;
        _k = elb.ExpertsUsed;
        _capacity = pendingCapacity;
        _heldPosition = new int[pendingCapacity];
        Array.Fill(_heldPosition, -1);
        _heldIds = new int[pendingCapacity * _layers * _k];
        _heldLayer = new bool[pendingCapacity * _layers];
    }

    public TokenExpertPredictor Predictor => _predictor;
    public ExpertLookaheadBuffer Lookahead => _elb;
    /// <summary>Rows held until their token is known.</summary>
    public int PendingRows => _held;

    public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
    {
        if (_elb.Depth > 0) _scorer.Score(_elb, _stats, layer, ids, tokens, k);
        _inner.Forward(layer, residual, hidden, ids, weights, tokens, k, output);
        Learn(layer, ids, tokens, k);
    }

    /// <summary>
    /// The next target pass starts at <paramref name="position"/>, and its first rows evaluate
    /// <paramref name="tokens"/>; the token of any further row is learned later (<see cref="Resolve"/>).
    /// </summary>
    public void ExpectPass(int position, ReadOnlySpan<int> tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        if (_known.Length < tokens.Length) _known = new int[Math.Max(tokens.Length, 2 * _known.Length)];
        tokens.CopyTo(_known);
        _knownCount = tokens.Length;
        _passStart = position;
        _rowOffset = _chunkTokens = 0;
        _lastLayer = -1;
    }

    /// <summary>
    /// The target holds <paramref name="kept"/> in its KV cache (positions 0..kept.Length − 1): every held row at one of
    /// those positions is learned under its token; the rest, evaluated past what was kept, are dropped.
    /// </summary>
    public void Resolve(ReadOnlySpan<int> kept)
    {
        if (_held == 0) return;
        for (int slot = 0; slot < _capacity; slot++)
        {
            int position = _heldPosition[slot];
            if (position < 0) continue;
            _heldPosition[slot] = -1;
            if (position >= kept.Length) continue;
            for (int layer = 0; layer < _layers; layer++)
                if (_heldLayer[slot * _layers + layer])
                    _predictor.Observe(kept[position], layer, _heldIds.AsSpan((slot * _layers + layer) * _k, _k));
        }
        _held = 0;
    }

    /// <summary>Reports each row of this chunk under its token, or holds it by position until the token is known.</summary>
    void Learn(int layer, ReadOnlySpan<int> ids, int tokens, int k)
    {
        if (_chunkTokens > 0 && layer <= _lastLayer) _rowOffset += _chunkTokens;
        _chunkTokens = tokens;
        _lastLayer = layer;
        if (_passStart < 0 || (uint)layer >= (uint)_layers) return;
        int n = Math.Min(k, _k);
        for (int r = 0; r < tokens; r++)
        {
            int row = _rowOffset + r, position = _passStart + row;
            var chosen = ids.Slice(r * k, n);
            int slot = position % _capacity;
            if (row < _knownCount)
            {
                _predictor.Observe(_known[row], layer, chosen);
                // A row held from an earlier evaluation of this position is superseded by this one.
                if (_heldPosition[slot] == position) _heldLayer[slot * _layers + layer] = false;
                continue;
            }
            if (_heldPosition[slot] != position)
            {
                if (_heldPosition[slot] < 0) _held++;
                _heldPosition[slot] = position;
                _heldLayer.AsSpan(slot * _layers, _layers).Clear();
            }
            chosen.CopyTo(_heldIds.AsSpan((slot * _layers + layer) * _k, n));
            _heldLayer[slot * _layers + layer] = true;
        }
    }

    /// <summary>A new sequence: the prefill starts at position 0 with its tokens not yet known; nothing held or forecast carries over.</summary>
    public void OnSequenceStart()
    {
        Forget();
        ExpectPass(0, []);
        _inner.OnSequenceStart();
    }

    public void Observe(CancellationToken cancel)
    {
        if (_inner is ICancellableExpertExecutor c) c.Observe(cancel);
    }

    /// <summary>The generation is over (or cancelled): its positions mean nothing to the next one.</summary>
    public void EndObserving()
    {
        Forget();
        _passStart = -1;
        if (_inner is ICancellableExpertExecutor c) c.EndObserving();
    }

    void Forget()
    {
        if (_held > 0) Array.Fill(_heldPosition, -1);
        _held = 0;
        _elb.Clear();
    }

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}

using MoeSpeq.Experts.Prediction;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;

namespace MoeSpeq.Speculative;

/// <summary>
/// A separate, smaller model as the draft (<c>--draft MODEL.gguf</c>): typically dense, sharing the target's
/// vocabulary, with its own weights, RunState and KV cache. It remembers which token each position of its cache
/// holds, so a cycle evaluates only what it has not seen: <see cref="Begin"/> catches up on the kept sequence in one
/// batch (all of it but the last token), each <see cref="Next"/> evaluates one token, and <see cref="Accepted"/> rolls
/// the position back to the kept tokens, whose cache rows are then overwritten by the next cycle.
/// </summary>
/// <remarks>
/// The draft has no routers, so the experts its tokens will need in the target come from a
/// <see cref="TokenExpertPredictor"/> that learns the target's own routing through a
/// <see cref="RoutingObserverExecutor"/>: each drafted token's forecast fills the <see cref="Lookahead"/> buffer and
/// is sent to the target's prefetcher while the draft computes, as the self-draft's routing is. Without an observer
/// (a dense target) the draft only drafts.
/// </remarks>
public sealed class ModelDraft : IDraft
{
    readonly LanguageModel _draft;
    readonly RoutingObserverExecutor? _observer;
    readonly IPrefetchSink? _prefetch;
    readonly int _maxDepth;
    readonly float[] _scratch;  // [vocab]: logits of a catch-up, unused
    readonly int[] _cycle;      // [maxDepth]: the tokens given to Next this cycle
    RunState _state;
    int[] _tokens;              // [context]: the token each position of the draft's KV cache holds
    int _position;              // positions of the draft's KV cache that hold the sequence
    int _start, _depth;
    bool _drafting;

    /// <param name="target">The model the drafts are verified by; only its vocabulary and context are read.</param>
    /// <param name="draft">The draft model, disposed with this draft.</param>
    /// <param name="maxDepth">Most drafts per cycle.</param>
    /// <param name="observer">The target's routing observer, whose predictor and lookahead buffer the drafts feed; null for none.</param>
    /// <param name="prefetch">Where forecasts are sent: the target's offloaded executor; null when its experts are resident.</param>
    /// <param name="contextLength">Positions of the draft's KV cache; grown at <see cref="Begin"/> to the target state's context if smaller. 0: the target's trained context, at most 4096.</param>
    /// <exception cref="ArgumentException">The vocabularies differ.</exception>
    public ModelDraft(LanguageModel target, LanguageModel draft, int maxDepth, RoutingObserverExecutor? observer = null, IPrefetchSink? prefetch = null, int contextLength = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDepth, 1);
        CheckVocabulary(target.File, draft.File);
        if (observer is not null && observer.Lookahead.MaxDepth < maxDepth)
            throw new ArgumentException($"the lookahead buffer holds {observer.Lookahead.MaxDepth} draft steps; drafts go {maxDepth} deep", nameof(observer));
        _draft = draft;
        _observer = observer;
        _prefetch = prefetch;
        _maxDepth = maxDepth;
        _scratch = new float[draft.Config.VocabSize];
        _cycle = new int[maxDepth];
        int context = contextLength > 0 ? contextLength : Math.Min(Math.Max(target.Config.ContextLength, 1), 4096);
        _state = new RunState(draft.Config, context, draft.Options.MaxBatch);
        _tokens = new int[context];
    }

    public LanguageModel Model => _draft;

    /// <summary>Positions of the sequence the draft's KV cache holds.</summary>
    public int Position => _position;

    /// <summary>The token-to-expert statistics the drafts are forecast from; null without an observer.</summary>
    public TokenExpertPredictor? Predictor => _observer?.Predictor;

    public ExpertLookaheadBuffer? Lookahead => _observer?.Lookahead;

    /// <summary>The draft model's weights in memory and its KV cache; the predictor's tables are <see cref="PredictorBytes"/>.</summary>
    public long ResidentBytes => WeightBytes + _state.Cache.ByteSize;

    public long PredictorBytes => _observer?.Predictor.Bytes ?? 0;

    long WeightBytes => _draft.Weights.Placement == WeightPlacement.Load
        ? _draft.Weights.LoadedBytes
        : _draft.File.Header.Tensors.Sum(t => t.ByteSize);

    public string Description
    {
        get
        {
            var c = _draft.Config;
            string name = _draft.File.Header.GetString("general.name") is { Length: > 0 } n ? n : Path.GetFileName(_draft.File.Path);
            string kind = c.IsMoe ? $"MoE, {c.ExpertCount} experts" : "dense";
            string forecast = _observer is { } o ? $"; expert forecast from token statistics, {o.Predictor.Bytes / 1e6:F1} MB" : "";
            return $"draft model: {name} ({kind}, {c.BlockCount} layers), {ResidentBytes / 1e6:F1} MB resident{forecast}";
        }
    }

    public void Begin(RunState target, ReadOnlySpan<int> tokens)
    {
        if (target.Position != tokens.Length - 1)
            throw new InvalidOperationException($"the target holds {target.Position} positions; a draft of {tokens.Length} tokens starts from {tokens.Length - 1}");
        if (target.ContextLength > _state.ContextLength)
        {
            _state = new RunState(_draft.Config, target.ContextLength, _draft.Options.MaxBatch);
            _tokens = new int[target.ContextLength];
            _position = 0;
        }
        // The target kept all it holds: rows of its earlier passes whose token was unknown can be learned now.
        _observer?.Resolve(tokens[..target.Position]);

        // What the cache holds stands as far as it matches this sequence (a new prompt may share only a prefix).
        int last = tokens.Length - 1;
        int valid = Math.Min(_position, last);
        valid = tokens[..valid].CommonPrefixLength(_tokens.AsSpan(0, valid));
        if (valid < last)
        {
            _state.Position = valid;
            _draft.Evaluate(_state, tokens[valid..last], _scratch, allLogits: false);
            tokens[valid..last].CopyTo(_tokens.AsSpan(valid));
        }
        _position = last;
        _start = target.Position;
        _depth = 0;
        _drafting = true;
        _observer?.Lookahead.Clear();
    }

    public void Next(int token, Span<float> logits)
    {
        if (!_drafting) throw new InvalidOperationException("Next outside a cycle: call Begin first");
        if (_depth == _maxDepth) throw new InvalidOperationException($"the draft goes at most {_maxDepth} deep");
        _cycle[_depth++] = token;
        // Forecast first, so the target's experts stream in while the draft computes.
        if (_observer is { } observer) observer.Predictor.Predict(token, _depth, observer.Lookahead, _prefetch);
        _state.Position = _position;
        _draft.Evaluate(_state, [token], logits, allLogits: false);
        _tokens[_position++] = token;
    }

    /// <summary>The target's verification comes next: it evaluates, from the cycle's first position, the tokens given to <see cref="Next"/> and then the last draft.</summary>
    public void End()
    {
        if (!_drafting) throw new InvalidOperationException("End before Begin");
        _drafting = false;
        _observer?.ExpectPass(_start, _cycle.AsSpan(0, _depth));
    }

    /// <summary>The cache keeps the rows of the first <paramref name="length"/> tokens it evaluated; the target's next pass starts at <paramref name="length"/>.</summary>
    public void Accepted(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _drafting = false;
        _position = Math.Min(_position, length);
        if (_observer is { } observer)
        {
            observer.Lookahead.Clear();
            observer.ExpectPass(length, []);
        }
    }

    public void Dispose() => _draft.Dispose();

    /// <summary>
    /// A draft must speak the target's vocabulary: the same size and, where both files list them
    /// (<c>tokenizer.ggml.tokens</c>), the same token strings.
    /// </summary>
    /// <exception cref="ArgumentException">Naming both files and the first difference.</exception>
    public static void CheckVocabulary(GgufFile target, GgufFile draft)
    {
        string t = Path.GetFileName(target.Path), d = Path.GetFileName(draft.Path);
        var targetTokens = target.Header.GetArray("tokenizer.ggml.tokens")?.Items as string[];
        var draftTokens = draft.Header.GetArray("tokenizer.ggml.tokens")?.Items as string[];
        long targetSize = targetTokens?.Length ?? target.Header.GetInt($"{target.Header.GetString("general.architecture")}.vocab_size") ?? -1;
        long draftSize = draftTokens?.Length ?? draft.Header.GetInt($"{draft.Header.GetString("general.architecture")}.vocab_size") ?? -1;
        if (targetSize != draftSize)
            throw new ArgumentException($"the draft model {d} has a vocabulary of {draftSize} tokens and the target {t} one of {targetSize}: a draft must share the target's vocabulary");
        if (targetTokens is null || draftTokens is null) return;
        for (int i = 0; i < targetTokens.Length; i++)
            if (!string.Equals(targetTokens[i], draftTokens[i], StringComparison.Ordinal))
                throw new ArgumentException(
                    $"the draft model {d} and the target {t} have vocabularies of {targetSize} tokens that differ: token {i} is \"{draftTokens[i]}\" in {d} " +
                    $"and \"{targetTokens[i]}\" in {t}; a draft must share the target's vocabulary (tokenizer.ggml.tokens)");
    }
}

using System.Diagnostics;
using System.Numerics.Tensors;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Speculative;
using MoeSpeq.Speculative.Governor;

namespace MoeSpeq.Inference;

/// <summary>Why a generation ended.</summary>
public enum StopReason
{
    TokenLimit,
    EndOfGeneration,
    ContextFull,
}

/// <summary>Counts and timings of one generation, for the stats line every front end prints.</summary>
public sealed record GenerationResult(int PromptTokens, int GeneratedTokens, double PrefillSeconds, double DecodeSeconds, StopReason Stop)
{
    public double PrefillTokensPerSecond => PromptTokens / Math.Max(PrefillSeconds, 1e-9);
    /// <summary>Decode speed over the tokens after the first sampled one (which the prefill pass produced).</summary>
    public double DecodeTokensPerSecond => Math.Max(GeneratedTokens - 1, 0) / Math.Max(DecodeSeconds, 1e-9);
}

/// <summary>
/// Autoregressive decoding in cycles: prefill the prompt and sample the first token; then each cycle a draft (when
/// speculating) proposes k tokens, the target evaluates the last token and the k drafts in one batched pass, and the
/// <see cref="SpeculativeVerifier"/> keeps a prefix of the drafts plus one token of the target's own. Without a draft
/// k is 0 and a cycle is one plain decode step. Kernels are batch-invariant, so greedy output is the same token for
/// token with or without speculation; sampled output has the same distribution. Text streams as tokens are kept,
/// until the token limit, an end-of-generation token, or a full context.
/// </summary>
public sealed class Generator
{
    readonly LanguageModel _model;
    readonly Tokenizer _tokenizer;
    readonly RunState _state;
    readonly SpeculativeDecoding? _speculation;
    readonly int _maxDepth;
    readonly float[] _logits;           // [maxDepth + 1, vocab]: the target's rows of a cycle
    readonly float[] _draftLogits;      // [vocab]
    readonly float[] _draftProbabilities; // [maxDepth, vocab]: q of each draft, when sampling
    readonly int[] _newExperts;         // [maxDepth]: |E_new(d)| of the cycle, for the governor
    readonly Func<ExpertKey, bool>? _isCached;

    public Generator(LanguageModel model, Tokenizer tokenizer, int contextLength, SpeculativeDecoding? speculation = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _state = model.CreateState(contextLength);
        _speculation = speculation is { Options.Enabled: true } ? speculation : null;
        _maxDepth = _speculation is null ? 0 : Math.Min(_speculation.Options.Auto ? _speculation.Options.MaxDepth : _speculation.Options.Depth, model.Options.MaxBatch - 1);
        int vocab = model.Config.VocabSize;
        _logits = new float[(_maxDepth + 1) * vocab];
        _draftLogits = _speculation is null ? [] : new float[vocab];
        _draftProbabilities = _speculation is null ? [] : new float[_maxDepth * vocab];
        _newExperts = new int[_maxDepth];
        _isCached = _speculation is null ? null : _speculation.IsCached;
    }

    public LanguageModel Model => _model;
    public Tokenizer Tokenizer => _tokenizer;

    /// <param name="onText">Receives the text of each step as soon as it forms whole characters.</param>
    public GenerationResult Generate(string prompt, int maxTokens, SamplerOptions sampling, Action<string> onText, CancellationToken cancel = default)
    {
        var promptIds = _tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
        if (promptIds.Count == 0) throw new ArgumentException("the prompt encodes to no tokens and the vocabulary adds no BOS to start from");
        // The caller has shown the prompt, so the first generated word keeps its leading space unless nothing precedes it.
        var decoder = new StreamingDecoder(_tokenizer, atTextStart: prompt.Length == 0);
        var result = GenerateTokens([.. promptIds], maxTokens, sampling, token =>
        {
            if (decoder.Push(token) is { Length: > 0 } text) onText(text);
        }, cancel);
        if (decoder.Flush() is { Length: > 0 } rest) onText(rest);
        return result;
    }

    /// <summary>
    /// Generates after the token ids <paramref name="prompt"/> (special tokens included as given), handing each kept
    /// token to <paramref name="onToken"/> in order; end-of-generation tokens end it and are not handed on.
    /// </summary>
    public GenerationResult GenerateTokens(ReadOnlySpan<int> prompt, int maxTokens, SamplerOptions sampling, Action<int> onToken, CancellationToken cancel = default)
    {
        if (prompt.IsEmpty) throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        if (prompt.Length >= _state.ContextLength)
            throw new ArgumentException($"the prompt has {prompt.Length} tokens; the context holds {_state.ContextLength}");
        // Room for a cycle's drafts past the context's last position, which are evaluated but never kept there.
        var sequence = new int[_state.ContextLength + _maxDepth + 1];
        prompt.CopyTo(sequence);
        int length = prompt.Length;
        var sampler = new Sampler(sampling);
        var verifier = new SpeculativeVerifier(sampler, _model.Config.VocabSize);
        // The draft samples from its own stream, so the target's acceptance draws do not depend on the drafts.
        var draftSampler = new Sampler(sampling with { Seed = sampling.Seed ^ 0x9E3779B97F4A7C15 });

        // Cancelling stops a forward pass even while it waits for an expert, and leaves the model clean for the next generation.
        using var observing = _model.ObserveCancellation(cancel);
        _state.Position = 0;
        long start = Stopwatch.GetTimestamp();
        _model.Evaluate(_state, sequence.AsSpan(0, length), _logits, allLogits: false);
        double prefill = Stopwatch.GetElapsedTime(start).TotalSeconds;

        start = Stopwatch.GetTimestamp();
        int generated = 0;
        var stop = StopReason.TokenLimit;
        if (maxTokens <= 0) return new GenerationResult(prompt.Length, 0, prefill, 0, stop);
        int next = sampler.Sample(_logits.AsSpan(0, _model.Config.VocabSize), sequence.AsSpan(0, length));
        int kept = 0; // drafts of the last cycle the target kept, already in sequence[length..]
        while (true)
        {
            // Emit the kept drafts, then the target's own token; the state holds every position before `next`.
            for (int i = 0; i <= kept && stop == StopReason.TokenLimit; i++)
            {
                int token = i < kept ? sequence[length] : next;
                if (_tokenizer.IsEndOfGeneration(token)) stop = StopReason.EndOfGeneration;
                else
                {
                    sequence[length++] = token;
                    generated++;
                    onToken(token);
                }
            }
            if (stop != StopReason.TokenLimit || generated == maxTokens) break;
            if (length >= _state.ContextLength)
            {
                stop = StopReason.ContextFull;
                break;
            }
            cancel.ThrowIfCancellationRequested();
            // Each cycle keeps at least one token; drafting past the token limit or the context's last position is waste.
            int depth = Math.Min(_speculation?.Governor?.ChooseDepth() ?? _maxDepth, _maxDepth);
            int k = Math.Max(0, Math.Min(depth, Math.Min(maxTokens - generated - 1, _state.ContextLength - length - 1)));
            kept = Cycle(sequence, length, k, sampler, draftSampler, verifier, out next);
        }
        return new GenerationResult(prompt.Length, generated, prefill, Stopwatch.GetElapsedTime(start).TotalSeconds, stop);
    }

    /// <summary>
    /// One cycle from sequence[..length] (the last token not yet evaluated): drafts k tokens after it into
    /// sequence[length..], verifies them with the target, and rolls the KV cache back to the kept tokens. Returns
    /// how many drafts were kept (they stay in sequence[length..]) and the target's token after them.
    /// </summary>
    int Cycle(int[] sequence, int length, int k, Sampler sampler, Sampler draftSampler, SpeculativeVerifier verifier, out int next)
    {
        int vocab = _model.Config.VocabSize;
        int p = _state.Position; // == length − 1
        long t0 = Stopwatch.GetTimestamp();
        var before = _speculation?.Stats.Totals ?? default;
        var draft = _speculation?.Draft;
        if (draft is null) k = 0;
        var hook = _speculation?.Hook;
        hook?.BeginCycle(k);
        if (k > 0 && draft is not null)
        {
            draft.Begin(_state, sequence.AsSpan(0, length));
            try
            {
                for (int i = 0; i < k; i++)
                {
                    draft.Next(sequence[length - 1 + i], _draftLogits);
                    var prefix = sequence.AsSpan(0, length + i);
                    if (sampler.Options.IsGreedy) sequence[length + i] = draftSampler.Sample(_draftLogits, prefix);
                    else
                    {
                        // The verifier needs q itself; drawing from it runs the sampler chain once, not twice.
                        var q = _draftProbabilities.AsSpan(i * vocab, vocab);
                        draftSampler.Distribution(_draftLogits, prefix, q);
                        sequence[length + i] = draftSampler.SampleFrom(q);
                    }
                }
            }
            finally
            {
                draft.End();
            }
        }
        long t1 = Stopwatch.GetTimestamp();
        var verifying = _speculation?.Stats.Totals ?? default;
        var lookahead = draft?.Lookahead;
        if (k > 0 && lookahead is not null && _isCached is not null) lookahead.CountNewExperts(_isCached, _newExperts.AsSpan(0, k));
        else _newExperts.AsSpan(0, k).Clear();

        // Verification: the last token and the k drafts in one pass, every expert applied once to all rows routed to it.
        _model.Evaluate(_state, sequence.AsSpan(length - 1, k + 1), _logits, allLogits: true);
        int accepted = verifier.Verify(_logits, sequence, length, k, _draftProbabilities, out next);
        if (hook is not null && hook.EndCycle(k, accepted) is var standing && standing != accepted)
        {
            // A routing replay decides the outcome (benchmarks on random-weight models): the kept drafts stand as
            // drafted and the target's token follows them, greedily.
            accepted = standing;
            next = TensorPrimitives.IndexOfMax(_logits.AsSpan(accepted * vocab, vocab));
        }
        _state.Position = p + accepted + 1;
        if (_speculation is { } s)
        {
            draft?.Accepted(length + accepted);
            var after = s.Stats.Totals;
            var draftTime = Stopwatch.GetElapsedTime(t0, t1);
            var verifyTime = Stopwatch.GetElapsedTime(t1);
            if (k > 0)
                s.Stats.Speculation.AddCycle(k, accepted, accepted + 1, draftTime, verifyTime,
                    after.BytesRead - before.BytesRead, after.Accesses - verifying.Accesses, after.Hits - verifying.Hits);
            if (s.Governor is { } governor)
            {
                double stall = Stopwatch.GetElapsedTime(verifying.StallTicks, after.StallTicks).TotalSeconds;
                double reading = Stopwatch.GetElapsedTime(before.BusyTicks, after.BusyTicks).TotalSeconds;
                long bytes = after.BytesRead - before.BytesRead;
                governor.ObserveCycle(new CycleObservation
                {
                    Depth = k,
                    Accepted = accepted,
                    DraftSeconds = draftTime.TotalSeconds,
                    VerifySeconds = Math.Max(0, verifyTime.TotalSeconds - stall),
                    IoStallSeconds = stall,
                    BytesRead = bytes,
                    NewExperts = _newExperts.AsMemory(0, k),
                    ExpertBytes = s.ExpertBytes,
                    LinkBytesPerSecond = bytes > 0 && reading > 0 ? bytes / reading : 0,
                });
            }
        }
        return accepted;
    }
}

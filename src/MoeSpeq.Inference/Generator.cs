using System.Diagnostics;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;

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
    /// <summary>Decode speed over the steps after the first sampled token (each is one forward pass).</summary>
    public double DecodeTokensPerSecond => Math.Max(GeneratedTokens - 1, 0) / Math.Max(DecodeSeconds, 1e-9);
}

/// <summary>
/// Plain autoregressive decoding: prefill the prompt, then sample one token per forward pass and stream its text,
/// until the token limit, an end-of-generation token, or a full context.
/// </summary>
public sealed class Generator(LanguageModel model, Tokenizer tokenizer, int contextLength)
{
    readonly RunState _state = model.CreateState(contextLength);
    readonly float[] _logits = new float[model.Config.VocabSize];

    public LanguageModel Model => model;
    public Tokenizer Tokenizer => tokenizer;

    /// <param name="onText">Receives the text of each step as soon as it forms whole characters.</param>
    public GenerationResult Generate(string prompt, int maxTokens, SamplerOptions sampling, Action<string> onText, CancellationToken cancel = default)
    {
        var promptIds = tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
        if (promptIds.Count == 0) throw new ArgumentException("the prompt encodes to no tokens and the vocabulary adds no BOS to start from");
        if (promptIds.Count >= _state.ContextLength)
            throw new ArgumentException($"the prompt has {promptIds.Count} tokens; the context holds {_state.ContextLength}");
        var history = new int[_state.ContextLength];
        for (int i = 0; i < promptIds.Count; i++) history[i] = promptIds[i];
        int length = promptIds.Count;
        var sampler = new Sampler(sampling);
        // The caller has shown the prompt, so the first generated word keeps its leading space unless nothing precedes it.
        var decoder = new StreamingDecoder(tokenizer, atTextStart: prompt.Length == 0);

        // Cancelling stops a forward pass even while it waits for an expert, and leaves the model clean for the next generation.
        using var observing = model.ObserveCancellation(cancel);
        _state.Position = 0;
        long start = Stopwatch.GetTimestamp();
        model.Evaluate(_state, history.AsSpan(0, length), _logits, allLogits: false);
        double prefill = Stopwatch.GetElapsedTime(start).TotalSeconds;

        start = Stopwatch.GetTimestamp();
        int generated = 0;
        var stop = StopReason.TokenLimit;
        while (generated < maxTokens)
        {
            cancel.ThrowIfCancellationRequested();
            int recentStart = Math.Max(0, length - sampling.RepeatLastN);
            int next = sampler.Sample(_logits, history.AsSpan(recentStart, length - recentStart));
            if (tokenizer.IsEndOfGeneration(next))
            {
                stop = StopReason.EndOfGeneration;
                break;
            }
            generated++;
            history[length++] = next;
            if (decoder.Push(next) is { Length: > 0 } text) onText(text);
            if (generated == maxTokens) break;
            if (length >= _state.ContextLength)
            {
                stop = StopReason.ContextFull;
                break;
            }
            model.Evaluate(_state, history.AsSpan(length - 1, 1), _logits, allLogits: false);
        }
        if (decoder.Flush() is { Length: > 0 } rest) onText(rest);
        return new GenerationResult(promptIds.Count, generated, prefill, Stopwatch.GetElapsedTime(start).TotalSeconds, stop);
    }
}

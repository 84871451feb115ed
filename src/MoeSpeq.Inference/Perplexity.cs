using MoeSpeq.Model;

namespace MoeSpeq.Inference;

/// <summary>
/// Perplexity with llama-perplexity's protocol, so figures compare directly: the tokenized text is cut into
/// ⌊n / ctx⌋ chunks of ctx tokens; each chunk starts from an empty cache with its first token replaced by BOS
/// (when the vocabulary adds BOS); only the second half is scored: logits at positions ctx/2 … ctx−2 predict
/// the tokens at ctx/2+1 … ctx−1. PPL = exp(mean negative log-likelihood).
/// </summary>
public static class Perplexity
{
    public sealed record Result(double Value, double StandardError, int Chunks, int ScoredTokens, IReadOnlyList<double> RunningByChunk);

    /// <param name="bosId">Token that replaces each chunk's first token, or null when the vocabulary adds no BOS.</param>
    /// <param name="onChunk">Called after each chunk with (chunk index, chunk count, running PPL).</param>
    public static Result Compute(LanguageModel model, ReadOnlySpan<int> tokens, int contextLength, int? bosId,
        Action<int, int, double>? onChunk = null, CancellationToken cancel = default)
    {
        if (contextLength < 4) throw new ArgumentException($"context {contextLength} is too small for perplexity (need at least 4)");
        if (tokens.Length < 2 * contextLength)
            throw new ArgumentException($"the text has {tokens.Length} tokens; perplexity with a context of {contextLength} needs at least {2 * contextLength}");

        int vocab = model.Config.VocabSize;
        int chunks = tokens.Length / contextLength;
        int first = contextLength / 2;
        var state = model.CreateState(contextLength);
        if (state.ContextLength < contextLength)
            throw new ArgumentException($"context {contextLength} exceeds the model's {state.ContextLength}");
        var chunk = new int[contextLength];
        var logits = new float[contextLength * vocab];
        double nll = 0, nll2 = 0;
        int count = 0;
        var running = new List<double>(chunks);
        using var observing = model.ObserveCancellation(cancel);

        for (int c = 0; c < chunks; c++)
        {
            cancel.ThrowIfCancellationRequested();
            tokens.Slice(c * contextLength, contextLength).CopyTo(chunk);
            if (bosId is int bos) chunk[0] = bos;
            state.Position = 0;
            model.Evaluate(state, chunk, logits, allLogits: true);
            for (int pos = first; pos < contextLength - 1; pos++)
            {
                double v = NegativeLogLikelihood(logits.AsSpan(pos * vocab, vocab), chunk[pos + 1]);
                nll += v;
                nll2 += v * v;
                count++;
            }
            double ppl = Math.Exp(nll / count);
            running.Add(ppl);
            onChunk?.Invoke(c, chunks, ppl);
        }

        double mean = nll / count;
        double variance = nll2 / count - mean * mean;
        double stderr = count > 1 && variance > 0 ? Math.Sqrt(variance / (count - 1)) * Math.Exp(mean) : 0;
        return new Result(Math.Exp(mean), stderr, chunks, count, running);
    }

    /// <summary>−log softmax(logits)[target], with the max shifted out and the sum accumulated in double.</summary>
    public static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return Math.Log(sum) - (logits[target] - max);
    }
}

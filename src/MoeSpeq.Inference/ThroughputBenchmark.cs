using System.Diagnostics;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Model;
using MoeSpeq.Tensors;

namespace MoeSpeq.Inference;

/// <summary>
/// End-to-end prefill and decode throughput, with the memory-bandwidth roofline next to it: a decode step must
/// read every resident weight once and the routed experts' weights, so tokens/s ≤ read bandwidth / bytes per token.
/// </summary>
public static class ThroughputBenchmark
{
    public sealed record Result(
        int PromptTokens, double PrefillSeconds, int DecodeTokens, double DecodeSeconds,
        long DecodeBytesPerToken, double ReadBandwidth, int Threads)
    {
        public double PrefillTokensPerSecond => PromptTokens / PrefillSeconds;
        public double DecodeTokensPerSecond => DecodeTokens / DecodeSeconds;
        /// <summary>Decode tokens/s if every step streamed its weights at the measured bandwidth.</summary>
        public double DecodeLimit => ReadBandwidth / DecodeBytesPerToken;
        public double FractionOfLimit => DecodeTokensPerSecond / DecodeLimit;
    }

    /// <summary>
    /// Runs a prefill of <paramref name="promptTokens"/> tokens and <paramref name="decodeTokens"/> single-token
    /// steps, both from an empty cache, after one untimed warm-up of each; token ids are seeded pseudo-random.
    /// </summary>
    public static Result Run(LanguageModel model, int promptTokens, int decodeTokens, int repetitions = 1, ulong seed = 42)
    {
        if (promptTokens < 1 || decodeTokens < 1) throw new ArgumentException("prompt and decode lengths must be positive");
        int vocab = model.Config.VocabSize;
        var rng = new Xoshiro256StarStar(seed);
        var prompt = new int[promptTokens];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = (int)(rng.NextUInt64() % (ulong)vocab);
        var state = model.CreateState(Math.Max(promptTokens, decodeTokens + 1));
        if (state.ContextLength < Math.Max(promptTokens, decodeTokens + 1))
            throw new ArgumentException($"the model's context ({state.ContextLength}) is shorter than the benchmark");
        var logits = new float[vocab];

        double prefill = double.MaxValue, decode = double.MaxValue;
        for (int r = 0; r <= repetitions; r++)
        {
            state.Position = 0;
            long t0 = Stopwatch.GetTimestamp();
            model.Evaluate(state, prompt, logits, allLogits: false);
            double p = Stopwatch.GetElapsedTime(t0).TotalSeconds;

            state.Position = 0;
            int[] token = [prompt[0]];
            t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < decodeTokens; i++)
            {
                model.Evaluate(state, token, logits, allLogits: false);
                token[0] = prompt[(i + 1) % prompt.Length];
            }
            double d = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (r == 0) continue; // warm-up: JIT, page faults, thread spin-up
            prefill = Math.Min(prefill, p);
            decode = Math.Min(decode, d);
        }

        // The roofline is measured on the model's own weight bytes, which is what a decode step streams.
        double bytesPerSecond;
        unsafe
        {
            var (start, length) = model.Weights.MatrixMemory;
            bytesPerSecond = new MemoryBandwidth((byte*)start, length).Measure(model.Pool);
        }
        return new Result(promptTokens, prefill, decodeTokens, decode, DecodeBytesPerToken(model), bytesPerSecond, model.Pool.ThreadCount);
    }

    /// <summary>
    /// Weight bytes one decode step reads: every matrix except the embedding table (one row of it), and of each
    /// routed expert tensor (stacked, or one expert's) the share of the experts a token uses.
    /// </summary>
    public static long DecodeBytesPerToken(LanguageModel model)
    {
        var c = model.Config;
        double bytes = 0;
        foreach (var t in model.File.Header.Tensors)
        {
            if (t.Name == "token_embd.weight") bytes += t.ByteSize / (double)Math.Max(t.Dim(1), 1);
            else if (TensorNames.IsRoutedExpert(t.Name) && c.ExpertCount > 0) bytes += t.ByteSize * (double)c.ExpertUsedCount / c.ExpertCount;
            else bytes += t.ByteSize;
        }
        if (model.File.Header.FindTensor("output.weight") is null && model.File.Header.FindTensor("token_embd.weight") is GgufTensorInfo tied)
            bytes += tied.ByteSize;
        return (long)bytes;
    }
}

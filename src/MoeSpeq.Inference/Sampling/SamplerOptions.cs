namespace MoeSpeq.Inference.Sampling;

/// <summary>
/// How <see cref="Sampler"/> turns logits into a token. Defaults are llama.cpp's; each filter has a value that
/// turns it off (noted per option). <see cref="Validate"/> names the first option out of range.
/// </summary>
public sealed record SamplerOptions
{
    /// <summary>Logits are divided by this after filtering; 0 samples greedily (argmax, ties to the lowest id).</summary>
    public float Temperature { get; init; } = 0.8f;
    /// <summary>Keep the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; } = 40;
    /// <summary>Keep the smallest prefix of most likely tokens whose probability reaches p (at least one); 1 = off.</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>Keep tokens whose probability is at least this fraction of the most likely one's; 0 = off.</summary>
    public float MinP { get; init; } = 0.05f;
    /// <summary>Penalty for tokens seen in the last <see cref="RepeatLastN"/>: positive logits divided, others multiplied; 1 = off.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;
    /// <summary>How many of the most recent tokens the penalty looks at; 0 = none, -1 = all that are passed.</summary>
    public int RepeatLastN { get; init; } = 64;
    public ulong Seed { get; init; }

    /// <summary>Argmax decoding: every filter off, temperature 0.</summary>
    public static SamplerOptions Greedy { get; } = new() { Temperature = 0, TopK = 0, TopP = 1, MinP = 0 };

    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> whose parameter name is the offending option.</summary>
    public void Validate()
    {
        // Written as !(in range) so that NaN, which compares false with everything, is rejected too.
        if (!(Temperature >= 0 && float.IsFinite(Temperature)))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be finite and ≥ 0 (0 = greedy)");
        if (TopK < 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top-k must be ≥ 0 (0 = off)");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1] (1 = off)");
        if (!(MinP >= 0 && MinP <= 1))
            throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "min-p must be in [0, 1] (0 = off)");
        if (!(RepeatPenalty > 0 && float.IsFinite(RepeatPenalty)))
            throw new ArgumentOutOfRangeException(nameof(RepeatPenalty), RepeatPenalty, "repeat penalty must be finite and > 0 (1 = off)");
        if (RepeatLastN < -1)
            throw new ArgumentOutOfRangeException(nameof(RepeatLastN), RepeatLastN, "repeat-last-n must be ≥ -1 (0 = none, -1 = all)");
    }
}

namespace MoeSpeq.Cli.Benchmarks;

/// <summary>
/// Fixed pseudo-random token prompts for benchmarks on random-weight models, whose text means nothing: the same
/// tokens every run, so configurations measured in one run decode the same sequence.
/// </summary>
public static class BenchmarkPrompt
{
    /// <summary><paramref name="length"/> token ids below <paramref name="vocab"/>; <paramref name="variant"/> picks another prompt.</summary>
    public static int[] Tokens(int length, int vocab, int variant = 0)
    {
        var prompt = new int[Math.Max(1, length)];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = (int)(((i + 7919L * variant) * 2654435761L + 12345) % vocab);
        return prompt;
    }
}

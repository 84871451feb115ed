namespace MoeSpeq.Speculative.Governor;

/// <summary>Exponential moving average steps shared by the governor's estimates.</summary>
static class Ema
{
    /// <summary><c>current + α·(sample − current)</c>: the new sample gets weight α, the history 1 − α.</summary>
    public static double Step(double current, double sample, double alpha) => current + alpha * (sample - current);

    /// <summary>
    /// A step of an estimate that has seen <paramref name="count"/> samples before this one (incremented here): the
    /// first sample replaces it, the next ones make a running mean until 1/n falls below α, then the EMA runs. A
    /// plain EMA of α = 0.2 still gives the first sample a third of the weight after five more, and a governor's
    /// first cycles are the least typical ones (a cold cache, the first deep probe).
    /// </summary>
    public static double Warm(double current, double sample, double alpha, ref int count)
    {
        count++;
        return count == 1 ? sample : Step(current, sample, Math.Max(alpha, 1.0 / count));
    }
}

namespace MoeSpeq.Speculative.Governor;

/// <summary>Exponential moving average step shared by the governor's estimates.</summary>
static class Ema
{
    /// <summary><c>current + α·(sample − current)</c>: the new sample gets weight α, the history 1 − α.</summary>
    public static double Step(double current, double sample, double alpha) => current + alpha * (sample - current);
}

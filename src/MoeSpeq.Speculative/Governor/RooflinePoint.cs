namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// One depth of the Amortization Roofline, as <c>moespeq roofline</c> plots it. Tokens are those a cycle yields,
/// <c>1 + k_accept(k)</c>, so every rate here is comparable with measured decode tokens/s. Predicted by
/// <see cref="AmortizationRoofline"/>; or achieved, from <see cref="MeasuredRoofline"/>, where the expectations are
/// means over the cycles run.
/// </summary>
/// <param name="Depth">k, the draft depth.</param>
/// <param name="ExpectedTokens"><c>1 + k_accept(k)</c>: expected accepted draft tokens plus the token verification yields.</param>
/// <param name="CycleSeconds"><c>T_cycle(k)</c>.</param>
/// <param name="ComputeSeconds"><c>T_draft(k) + T_verify(k + 1)</c>.</param>
/// <param name="SynchronousBytes">I/O on the critical path as link bytes, <c>B_link · (T_cycle(k) − ComputeSeconds)</c>.</param>
/// <param name="Intensity">Amortized intensity, tokens per synchronous I/O byte (+∞ when nothing is synchronous).</param>
/// <param name="Throughput">Predicted <c>Θ(k) = ExpectedTokens / T_cycle(k)</c>, tokens per second.</param>
/// <param name="ComputeRoof">Tokens per second if I/O were free, <c>ExpectedTokens / ComputeSeconds</c>.</param>
/// <param name="LinkRoof">Tokens per second if only the synchronous I/O took time: tokens over stall seconds, which is
/// <c>B_link · Intensity</c> (+∞ when there is no stall).</param>
public sealed record RooflinePoint(
    int Depth,
    double ExpectedTokens,
    double CycleSeconds,
    double ComputeSeconds,
    double SynchronousBytes,
    double Intensity,
    double Throughput,
    double ComputeRoof,
    double LinkRoof)
{
    /// <summary>
    /// The point of a cycle yielding <paramref name="tokens"/> in <paramref name="cycleSeconds"/>, of which
    /// <paramref name="computeSeconds"/> computing and <paramref name="stallSeconds"/> waiting on
    /// <paramref name="synchronousBytes"/> of I/O; rates without a denominator are +∞.
    /// </summary>
    public static RooflinePoint Of(int depth, double tokens, double cycleSeconds, double computeSeconds, double stallSeconds, double synchronousBytes) => new(
        Depth: depth,
        ExpectedTokens: tokens,
        CycleSeconds: cycleSeconds,
        ComputeSeconds: computeSeconds,
        SynchronousBytes: synchronousBytes,
        Intensity: synchronousBytes > 0 ? tokens / synchronousBytes : double.PositiveInfinity,
        Throughput: cycleSeconds > 0 ? tokens / cycleSeconds : double.PositiveInfinity,
        ComputeRoof: computeSeconds > 0 ? tokens / computeSeconds : double.PositiveInfinity,
        LinkRoof: stallSeconds > 0 ? tokens / stallSeconds : double.PositiveInfinity);
}

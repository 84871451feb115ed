namespace MoeSpeq.Speculative.Governor;

/// <summary>The governor's "predicted vs measured" line.</summary>
/// <param name="Depth">k*, the depth the model currently finds best.</param>
/// <param name="PredictedThroughput">Θ(k*), tokens per second.</param>
/// <param name="ForecastThroughput">
/// What the model predicted, just before absorbing each of the recent cycles, for the depth that cycle ran: Σ expected
/// tokens / Σ predicted T_cycle over the window (0 before any cycle). The like-for-like partner of the measurement.
/// </param>
/// <param name="MeasuredThroughput">Tokens per second over the recent cycles: Σ (accepted + 1) / Σ cycle seconds (0 before any cycle).</param>
/// <param name="Cycles">How many cycles the window holds.</param>
public readonly record struct GovernorReport(
    int Depth,
    double PredictedThroughput,
    double ForecastThroughput,
    double MeasuredThroughput,
    int Cycles);

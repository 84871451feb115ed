namespace MoeSpeq.Speculative.Governor;

/// <summary>
/// The Amortization Roofline model of MoE-SpeQ (arXiv 2511.14102): predicted decode throughput at every draft depth, from the acceptance
/// estimate and the cycle-cost model, and the depth that maximises it.
/// </summary>
/// <remarks>
/// <para>Throughput: <c>Θ(k) = (k_accept(k) + 1) / T_cycle(k)</c>, with <c>k_accept(k) = Σ_{i=1..k} Π_{j≤i} p_j</c>
/// (<see cref="AcceptanceEstimate"/>) and T_cycle from <see cref="CycleCostModel"/>.</para>
/// <para>The paper writes the numerator as k_accept(k). Here it also counts the token every verification yields
/// (the correction at the first rejection, or the next token when all k pass), because the candidates include
/// k = 0, plain decoding, which produces exactly that one token per cycle: without it Θ(0) would be 0 and the model
/// could never prefer not speculating. With it Θ is the decode tokens/s the loop will measure.</para>
/// <para>Roofline view: a cycle is compute plus synchronous I/O, so
/// <c>Θ(k) = 1 / (1 / ComputeRoof(k) + 1 / LinkRoof(k)) ≤ min(ComputeRoof, LinkRoof)</c>, where the link roof is
/// <c>B_link × intensity</c> and the amortized intensity is tokens per synchronous byte: deeper drafts amortize a
/// cycle's unavoidable fetch over more tokens until acceptance decays or the ELB's new experts outgrow the draft.</para>
/// </remarks>
public sealed class AmortizationRoofline
{
    readonly AcceptanceEstimate _acceptance;
    readonly CycleCostModel _costs;

    /// <summary>A model over the two estimates, which must cover the same depths.</summary>
    public AmortizationRoofline(AcceptanceEstimate acceptance, CycleCostModel costs)
    {
        ArgumentNullException.ThrowIfNull(acceptance);
        ArgumentNullException.ThrowIfNull(costs);
        if (acceptance.MaxDepth != costs.MaxDepth)
            throw new ArgumentException($"acceptance covers depth {acceptance.MaxDepth}, costs {costs.MaxDepth}", nameof(costs));
        _acceptance = acceptance;
        _costs = costs;
    }

    /// <summary>The largest depth k considered.</summary>
    public int MaxDepth => _costs.MaxDepth;

    /// <summary>Expected tokens per cycle, <c>1 + k_accept(k)</c>.</summary>
    public double ExpectedTokens(int k) => 1 + _acceptance.ExpectedAccepted(k);

    /// <summary>Predicted <c>Θ(k) = (1 + k_accept(k)) / T_cycle(k)</c> in tokens per second.</summary>
    public double Throughput(int k) => ExpectedTokens(k) / _costs.CycleSeconds(k);

    /// <summary>
    /// <c>k* = argmax_{k ∈ 0..MaxDepth} Θ(k)</c>; on a tie the smaller depth. One pass with the running product of
    /// p_j, no allocation. With <paramref name="exploration"/> z &gt; 0 each p_j is its optimistic value
    /// (<see cref="AcceptanceEstimate.Optimistic"/>), so depths with little evidence are not written off.
    /// </summary>
    public int BestDepth(double exploration = 0)
    {
        int best = 0;
        double bestTheta = 1 / _costs.CycleSeconds(0);
        double accepted = 0, product = 1;
        for (int k = 1; k <= MaxDepth; k++)
        {
            product *= _acceptance.Optimistic(k, exploration);
            accepted += product;
            double theta = (1 + accepted) / _costs.CycleSeconds(k);
            if (theta > bestTheta)
            {
                bestTheta = theta;
                best = k;
            }
        }
        return best;
    }

    /// <summary>The roofline quantities at depth <paramref name="k"/>.</summary>
    public RooflinePoint Point(int k) =>
        RooflinePoint.Of(k, ExpectedTokens(k), _costs.CycleSeconds(k), _costs.ComputeSeconds(k), _costs.StallSeconds(k), _costs.SynchronousBytes(k));

    /// <summary>The roofline at every depth 0..MaxDepth, for plotting and reports.</summary>
    public IReadOnlyList<RooflinePoint> Points()
    {
        var points = new RooflinePoint[MaxDepth + 1];
        for (int k = 0; k <= MaxDepth; k++) points[k] = Point(k);
        return points;
    }
}

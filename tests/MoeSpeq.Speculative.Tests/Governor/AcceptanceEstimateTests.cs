using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>Per-depth acceptance: the closed form for constant p, what one verification teaches, pooling across depths, drift and optimism.</summary>
public sealed class AcceptanceEstimateTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]
    [InlineData(0.8)]
    [InlineData(0.95)]
    [InlineData(1.0)]
    public void ExpectedAcceptedIsTheGeometricSumForAConstantP(double p)
    {
        var estimate = new AcceptanceEstimate(maxDepth: 12, prior: p);
        for (int k = 0; k <= 12; k++)
        {
            double closedForm = p == 1 ? k : p * (1 - Math.Pow(p, k)) / (1 - p);   // Σ_{i=1..k} p^i
            Assert.Equal(closedForm, estimate.ExpectedAccepted(k), 12);
        }
    }

    [Fact]
    public void AVerificationRaisesTheAcceptedPrefixLowersTheFirstRejectionAndSaysNothingBeyond()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 6, prior: 0.8, smoothing: 0.05, priorWeight: 2, poolWeight: 6);
        estimate.Observe(proposed: 5, accepted: 2);
        // Pooled: a running mean of the three outcomes and two pseudo-outcomes at the prior.
        double pooled = (2 * 0.8 + 1 + 1 + 0) / 5;
        Assert.Equal(pooled, estimate.Pooled, 12);
        Assert.Equal((1 + 6 * pooled) / 7, estimate.Probability(1), 12);
        Assert.Equal((1 + 6 * pooled) / 7, estimate.Probability(2), 12);
        Assert.Equal((0 + 6 * pooled) / 7, estimate.Probability(3), 12);
        Assert.Equal(3, estimate.DeepestObserved);
        // Depths 4..6 were never tested on their own: they take the pooled acceptance.
        Assert.Equal(pooled, estimate.Probability(4), 12);
        Assert.Equal(pooled, estimate.Probability(6), 12);
        double p1 = estimate.Probability(1), p3 = estimate.Probability(3);
        Assert.Equal(p1 + p1 * p1 + p1 * p1 * p3 + p1 * p1 * p3 * pooled, estimate.ExpectedAccepted(4), 12);
    }

    [Fact]
    public void AllAcceptedRejectsNothingAndPlainDecodingTeachesNothing()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 4, prior: 0.5, smoothing: 0.05, priorWeight: 2, poolWeight: 6);
        estimate.Observe(proposed: 0, accepted: 0);
        Assert.Equal(0, estimate.DeepestObserved);
        Assert.Equal(0.5, estimate.Pooled, 12);
        estimate.Observe(proposed: 2, accepted: 2);
        Assert.Equal((2 * 0.5 + 2) / 4, estimate.Pooled, 12);
        Assert.True(estimate.Probability(1) > 0.75 && estimate.Probability(1) < 0.8);
        Assert.Equal(estimate.Probability(1), estimate.Probability(2), 12);
        Assert.Equal(0.75, estimate.Probability(3), 12);
        Assert.Equal(2, estimate.DeepestObserved);
    }

    [Fact]
    public void ARarelyDraftedDepthIsNotWrittenOffByOneRejection()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 8, prior: 0.8);
        for (int i = 0; i < 60; i++) estimate.Observe(3, i % 10 == 0 ? 2 : 3);   // depths 1..3 pass ~97% of the time
        estimate.Observe(8, 5);                                                  // one deep probe, rejected at depth 6
        Assert.True(estimate.Pooled > 0.9);
        // Its one outcome counts as one of seven: the estimate stays near what every other depth shows.
        Assert.InRange(estimate.Probability(6), 0.8, estimate.Pooled);
        Assert.Equal(estimate.Pooled, estimate.Probability(7), 12);
        Assert.True(estimate.ExpectedAccepted(8) > 5.5);
    }

    [Fact]
    public void ADepthObservedEveryCycleIsMostlyItsOwnAverage()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 2, prior: 0.8, smoothing: 0.05, poolWeight: 6);
        // Depth 1 always passes; depth 2 passes every other cycle.
        for (int i = 0; i < 400; i++) estimate.Observe(2, i % 2 == 0 ? 2 : 1);
        double pooled = estimate.Pooled;   // about 3 outcomes in 4 accepted
        Assert.InRange(pooled, 0.7, 0.8);
        // A depth observed every cycle carries 1/α = 20 discounted outcomes against the pool's 6.
        Assert.InRange(estimate.Probability(1), (20 + 6 * pooled) / 26 - 0.02, (20 + 6 * pooled) / 26 + 0.02);
        Assert.InRange(estimate.Probability(2), (10 + 6 * pooled) / 26 - 0.02, (10 + 6 * pooled) / 26 + 0.02);
    }

    [Fact]
    public void TheAverageFollowsAChangeInAcceptance()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 4, prior: 0.8, smoothing: 0.1);
        for (int i = 0; i < 100; i++) estimate.Observe(4, 4);
        Assert.True(estimate.Probability(1) > 0.999);
        Assert.True(estimate.ExpectedAccepted(4) > 3.99);

        // The draft stops matching: depth 1 is rejected every cycle from now on.
        for (int i = 0; i < 60; i++) estimate.Observe(4, 0);
        Assert.Equal(Math.Pow(0.9, 60), estimate.Probability(1), 3);   // (1 − α)^n of the old value
        Assert.True(estimate.ExpectedAccepted(4) < 0.01);

        // Then it matches 3 cycles in 5 at depth 1: the average settles around 0.6.
        double sum = 0;
        int samples = 0;
        for (int i = 0; i < 500; i++)
        {
            estimate.Observe(1, i % 5 < 3 ? 1 : 0);
            if (i >= 100) { sum += estimate.Probability(1); samples++; }
        }
        Assert.Equal(0.6, sum / samples, 2);
    }

    [Fact]
    public void ImpossibleVerificationsAreRejected()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 4);
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe(5, 0));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe(-1, 0));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe(2, 3));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe(2, -1));
        Assert.ThrowsAny<ArgumentException>(() => estimate.ExpectedAccepted(5));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Probability(0));
        Assert.ThrowsAny<ArgumentException>(() => new AcceptanceEstimate(4, prior: 1.5));
        Assert.ThrowsAny<ArgumentException>(() => new AcceptanceEstimate(4, smoothing: 0));
        Assert.ThrowsAny<ArgumentException>(() => new AcceptanceEstimate(4, poolWeight: 0));
        Assert.ThrowsAny<ArgumentException>(() => new AcceptanceEstimate(4, priorWeight: -1));
    }

    [Fact]
    public void OptimismFavoursDepthsWithLittleEvidenceAndVanishesForDepthsSeenEveryCycle()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 8, prior: 0.8, smoothing: 0.05, poolWeight: 6);
        for (int i = 0; i < 300; i++) estimate.Observe(2, i % 5 == 0 ? 1 : 2);
        estimate.Observe(8, 5);

        for (int depth = 1; depth <= 8; depth++)
            Assert.Equal(estimate.Probability(depth), estimate.Optimistic(depth, z: 0), 12);
        // Depths 1 and 2 are observed every cycle: their discounted count has settled at 1/α, no bonus.
        Assert.Equal(estimate.Probability(1), estimate.Optimistic(1, z: 1), 12);
        Assert.Equal(estimate.Probability(2), estimate.Optimistic(2, z: 1), 12);
        // Depth 6 has one outcome, depth 7 none: z spreads of one outcome times the missing evidence.
        double p6 = estimate.Probability(6), p7 = estimate.Probability(7);
        Assert.Equal(p6 + Math.Sqrt(p6 * (1 - p6) * (1.0 / 7 - 0.05)), estimate.Optimistic(6, z: 1), 12);
        Assert.Equal(p7 + 0.5 * Math.Sqrt(p7 * (1 - p7) * (1.0 / 6 - 0.05)), estimate.Optimistic(7, z: 0.5), 12);
        Assert.Equal(1, estimate.Optimistic(7, z: 100));
        Assert.True(estimate.ExpectedAccepted(8) < Optimistic(estimate, 8));
    }

    static double Optimistic(AcceptanceEstimate estimate, int k)
    {
        double sum = 0, product = 1;
        for (int i = 1; i <= k; i++) sum += product *= estimate.Optimistic(i, z: 1);
        return sum;
    }
}

using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>Per-depth acceptance: the closed form for constant p, what one verification teaches, inheritance and drift.</summary>
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
        var estimate = new AcceptanceEstimate(maxDepth: 6, prior: 0.8, smoothing: 0.5);
        estimate.Observe(proposed: 5, accepted: 2);
        Assert.Equal(0.9, estimate.Probability(1), 12);   // 0.8 + 0.5·(1 − 0.8)
        Assert.Equal(0.9, estimate.Probability(2), 12);
        Assert.Equal(0.4, estimate.Probability(3), 12);   // 0.8 + 0.5·(0 − 0.8)
        Assert.Equal(3, estimate.DeepestObserved);
        // Depths 4..6 were never tested on their own: they take the deepest observed estimate.
        Assert.Equal(0.4, estimate.Probability(4), 12);
        Assert.Equal(0.4, estimate.Probability(6), 12);
        Assert.Equal(0.9 + 0.9 * 0.9 + 0.81 * 0.4 + 0.324 * 0.4, estimate.ExpectedAccepted(4), 12);
    }

    [Fact]
    public void AllAcceptedRejectsNothingAndPlainDecodingTeachesNothing()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 4, prior: 0.5, smoothing: 0.5);
        estimate.Observe(proposed: 0, accepted: 0);
        Assert.Equal(0, estimate.DeepestObserved);
        estimate.Observe(proposed: 2, accepted: 2);
        Assert.Equal(0.75, estimate.Probability(1), 12);
        Assert.Equal(0.75, estimate.Probability(2), 12);
        Assert.Equal(2, estimate.DeepestObserved);
    }

    [Fact]
    public void ANewDepthStartsItsAverageFromWhatItInherited()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 4, prior: 0.8, smoothing: 0.5);
        estimate.Observe(1, 0);                                  // p1: 0.8 → 0.4
        Assert.Equal(0.4, estimate.Probability(3), 12);
        estimate.Observe(3, 3);                                  // p2, p3 start from the inherited 0.4
        Assert.Equal(0.7, estimate.Probability(1), 12);
        Assert.Equal(0.7, estimate.Probability(2), 12);
        Assert.Equal(0.7, estimate.Probability(3), 12);
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
    }

    [Fact]
    public void ANewDepthShedsItsPriorAsARunningMeanBeforeTheEmaTakesOver()
    {
        var estimate = new AcceptanceEstimate(maxDepth: 2, prior: 0.8, smoothing: 0.05);
        for (int i = 0; i < 10; i++) estimate.Observe(1, 1);
        // Two pseudo-outcomes at the prior and ten acceptances: (2 · 0.8 + 10) / 12.
        Assert.Equal((2 * 0.8 + 10) / 12, estimate.Probability(1), 12);
        // Long after, the EMA's fixed step holds: one rejection moves it by α.
        for (int i = 0; i < 200; i++) estimate.Observe(1, 1);
        double before = estimate.Probability(1);
        estimate.Observe(1, 0);
        Assert.Equal(before * 0.95, estimate.Probability(1), 12);
    }
}

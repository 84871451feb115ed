using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>|E_new(k)|: the prior, reported depths, extrapolation to depths not drafted, averaging.</summary>
public sealed class NewExpertEstimateTests
{
    [Fact]
    public void BeforeAnyCycleEachDepthAddsThePrior()
    {
        var estimate = new NewExpertEstimate(maxDepth: 8, perDepthPrior: 1.5);
        Assert.Equal(0, estimate.Expected(0));
        Assert.Equal(6, estimate.Expected(4), 12);
    }

    [Fact]
    public void DepthsNotDraftedGrowByTheLastIncrement()
    {
        var estimate = new NewExpertEstimate(8);
        estimate.Observe([4, 7, 9]);
        Assert.Equal(4, estimate.Expected(1), 12);
        Assert.Equal(9, estimate.Expected(3), 12);
        Assert.Equal(13, estimate.Expected(5), 12);   // 9 + 2·2

        var one = new NewExpertEstimate(8);
        one.Observe([5]);
        Assert.Equal(15, one.Expected(3), 12);

        var flat = new NewExpertEstimate(8);
        flat.Observe([6, 6]);                        // the cache already holds what depth 2 names
        Assert.Equal(6, flat.Expected(8), 12);
    }

    [Fact]
    public void RepeatedDepthsAreAveragedAndDeeperReportsExtendTheRange()
    {
        var estimate = new NewExpertEstimate(8, smoothing: 0.5);
        estimate.Observe([2, 4]);
        estimate.Observe([4, 8, 10]);
        Assert.Equal(3, estimate.Expected(1), 12);
        Assert.Equal(6, estimate.Expected(2), 12);
        Assert.Equal(10, estimate.Expected(3), 12);   // first report of depth 3 is taken as is
        Assert.Equal(3, estimate.DeepestObserved);
    }

    [Fact]
    public void ImpossibleCountsAreRejected()
    {
        var estimate = new NewExpertEstimate(4);
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe([3, 2]));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe([-1]));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Observe([1, 2, 3, 4, 5]));
        Assert.ThrowsAny<ArgumentException>(() => estimate.Expected(5));
    }

    [Fact]
    public void DepthsBeyondACycleFollowTheLevelItsDeepestDepthMoved()
    {
        var estimate = new NewExpertEstimate(maxDepth: 4, smoothing: 0.5);
        estimate.Observe([8, 14, 18, 20]);   // one deep probe, on a cold cache
        estimate.Observe([4, 7]);            // a warm two-deep cycle: depth 2 falls from 14 to (14 + 7) / 2
        Assert.Equal(10.5, estimate.Expected(2), 12);
        // Depths 3 and 4 keep their shape relative to depth 2 and follow its level.
        Assert.Equal(18 * 10.5 / 14, estimate.Expected(3), 12);
        Assert.Equal(20 * 10.5 / 14, estimate.Expected(4), 12);
    }
}

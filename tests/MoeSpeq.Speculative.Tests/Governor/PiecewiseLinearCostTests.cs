using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>Verify time by positions: measured points, interpolation, extrapolation and the prior.</summary>
public sealed class PiecewiseLinearCostTests
{
    [Fact]
    public void BeforeAnyMeasurementTheCostIsThePriorLine()
    {
        var cost = new PiecewiseLinearCost(maxSize: 9, priorAtOne: 0.1, priorGrowth: 0.01);
        Assert.Equal(0.1, cost.Evaluate(1), 12);
        Assert.Equal(0.18, cost.Evaluate(9), 12);
    }

    [Fact]
    public void MeasuredSizesAreExactAndSizesBetweenAreInterpolated()
    {
        var cost = new PiecewiseLinearCost(9, 0.1, 0.01);
        cost.Observe(1, 0.10);
        cost.Observe(4, 0.16);
        Assert.Equal(0.10, cost.Evaluate(1), 12);
        Assert.Equal(0.16, cost.Evaluate(4), 12);
        Assert.Equal(0.12, cost.Evaluate(2), 12);
        Assert.Equal(0.14, cost.Evaluate(3), 12);
        Assert.Equal(2, cost.MeasuredSizes);
    }

    [Fact]
    public void BeyondTheMeasuredSizesTheNearestTwoExtrapolate()
    {
        var cost = new PiecewiseLinearCost(9, 0.1, 0.01);
        cost.Observe(2, 0.10);
        cost.Observe(3, 0.12);
        cost.Observe(5, 0.20);
        Assert.Equal(0.28, cost.Evaluate(7), 12);   // through (3, 0.12) and (5, 0.20): 0.04 a position
        Assert.Equal(0.08, cost.Evaluate(1), 12);   // through (2, 0.10) and (3, 0.12)
        Assert.Equal(0.16, cost.Evaluate(4), 12);   // between 3 and 5
    }

    [Fact]
    public void ExtrapolationNeverMakesABiggerBatchCheaper()
    {
        var cost = new PiecewiseLinearCost(9, 0.1, 0.01);
        cost.Observe(1, 0.20);
        cost.Observe(2, 0.10);   // noise: the second size measured faster
        Assert.Equal(0.10, cost.Evaluate(6), 12);
    }

    [Fact]
    public void OneMeasurementScalesThePriorShape()
    {
        var cost = new PiecewiseLinearCost(9, priorAtOne: 0.1, priorGrowth: 0.01);
        cost.Observe(1, 0.01);   // the machine is ten times faster than the prior
        Assert.Equal(0.014, cost.Evaluate(5), 12);
    }

    [Fact]
    public void RepeatedMeasurementsAreAveraged()
    {
        var cost = new PiecewiseLinearCost(4, 0.1, 0.01, smoothing: 0.5);
        cost.Observe(2, 0.2);
        cost.Observe(2, 0.4);
        Assert.Equal(0.3, cost.Evaluate(2), 12);
        for (int i = 0; i < 60; i++) cost.Observe(2, 0.05);
        Assert.Equal(0.05, cost.Evaluate(2), 9);
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        var cost = new PiecewiseLinearCost(4, 0.1, 0.01);
        Assert.ThrowsAny<ArgumentException>(() => cost.Observe(0, 0.1));
        Assert.ThrowsAny<ArgumentException>(() => cost.Observe(5, 0.1));
        Assert.ThrowsAny<ArgumentException>(() => cost.Observe(1, -0.1));
        Assert.ThrowsAny<ArgumentException>(() => cost.Observe(1, double.NaN));
        Assert.ThrowsAny<ArgumentException>(() => cost.Evaluate(5));
        Assert.ThrowsAny<ArgumentException>(() => new PiecewiseLinearCost(4, 0, 0.01));
    }

    [Fact]
    public void ASizeAveragesItsFirstSamplesBeforeTheEmaTakesOver()
    {
        var cost = new PiecewiseLinearCost(maxSize: 4, priorAtOne: 1, priorGrowth: 0, smoothing: 0.2);
        // A cold first cycle must not dominate: 1/n exceeds α for the first five samples, so they are averaged.
        foreach (double sample in new[] { 10.0, 20, 30 }) cost.Observe(2, sample);
        Assert.Equal(20, cost.Evaluate(2), 12);
        foreach (double sample in new[] { 20.0, 20 }) cost.Observe(2, sample);
        Assert.Equal(20, cost.Evaluate(2), 12);
        cost.Observe(2, 80);   // the sixth: 1/6 < α, so the EMA's step
        Assert.Equal(20 + 0.2 * 60, cost.Evaluate(2), 12);
    }
}

using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>The draft-time least-squares fit: exact recovery, noise, the prior, forgetting.</summary>
public sealed class LinearFitTests
{
    [Fact]
    public void BeforeAnySampleTheFitIsThePrior()
    {
        var fit = new LinearFit(interceptPrior: 0.002, slopePrior: 0.01);
        Assert.Equal(0.002, fit.Intercept, 12);
        Assert.Equal(0.01, fit.Slope, 12);
        Assert.Equal(0.042, fit.Evaluate(4), 12);
    }

    [Fact]
    public void ExactSamplesGiveBackTheirLine()
    {
        var fit = new LinearFit(interceptPrior: 0, slopePrior: 0.05);
        for (int round = 0; round < 3; round++)
            for (int k = 1; k <= 8; k++) fit.Add(k, 0.004 + 0.0025 * k);
        Assert.Equal(0.004, fit.Intercept, 6);
        Assert.Equal(0.0025, fit.Slope, 6);
    }

    [Fact]
    public void NoisySamplesGiveTheLeastSquaresLine()
    {
        var random = new Random(7);
        var fit = new LinearFit(0, 0);
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int n = 0;
        for (int i = 0; i < 400; i++)
        {
            int k = 1 + i % 8;
            double y = 0.01 + 0.003 * k + (random.NextDouble() - 0.5) * 0.002;
            fit.Add(k, y);
            sx += k; sy += y; sxx += k * k; sxy += k * y; n++;
        }
        double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        double intercept = (sy - slope * sx) / n;
        Assert.Equal(slope, fit.Slope, 6);
        Assert.Equal(intercept, fit.Intercept, 6);
        Assert.Equal(0.003, fit.Slope, 3);
        Assert.Equal(0.01, fit.Intercept, 3);
    }

    [Fact]
    public void SamplesAtOneDepthKeepThePriorInterceptAndSetTheSlope()
    {
        var fit = new LinearFit(interceptPrior: 0, slopePrior: 0.01);
        for (int i = 0; i < 10; i++) fit.Add(4, 0.1);
        // One x cannot separate a from b: the cost is read as proportional to k.
        Assert.Equal(0, fit.Intercept, 4);
        Assert.Equal(0.025, fit.Slope, 4);
        Assert.Equal(0.1, fit.Evaluate(4), 6);
    }

    [Fact]
    public void ForgettingFollowsAChangedCost()
    {
        var fit = new LinearFit(0, 0, decay: 0.9);
        for (int i = 0; i < 200; i++) fit.Add(1 + i % 4, 1 + 1.0 * (1 + i % 4));
        Assert.Equal(1, fit.Slope, 5);
        for (int i = 0; i < 300; i++) fit.Add(1 + i % 4, 2 + 3.0 * (1 + i % 4));
        Assert.Equal(3, fit.Slope, 5);
        Assert.Equal(2, fit.Intercept, 5);
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => new LinearFit(0, 0, decay: 0));
        Assert.ThrowsAny<ArgumentException>(() => new LinearFit(0, 0, decay: 1.5));
        Assert.ThrowsAny<ArgumentException>(() => new LinearFit(double.NaN, 0));
        var fit = new LinearFit(0, 0);
        Assert.ThrowsAny<ArgumentException>(() => fit.Add(1, double.NaN));
        Assert.ThrowsAny<ArgumentException>(() => fit.Add(double.PositiveInfinity, 1));
    }
}

using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>The achieved roofline per depth: its sums, its agreement with the model where the model is exact, and the governor's depth sweep.</summary>
public sealed class MeasuredRooflineTests
{
    static CycleObservation Cycle(int k, int accepted, double draft, double verify, double stall) => new()
    {
        Depth = k,
        Accepted = accepted,
        DraftSeconds = draft,
        VerifySeconds = verify,
        IoStallSeconds = stall,
        NewExperts = new int[k],
    };

    [Fact]
    public void EachDepthSumsItsOwnCycles()
    {
        var measured = new MeasuredRoofline(4);
        measured.Observe(Cycle(2, 2, draft: 0.01, verify: 0.05, stall: 0.04));   // 3 tokens in 0.10 s
        measured.Observe(Cycle(2, 0, draft: 0.01, verify: 0.05, stall: 0.14));   // 1 token in 0.20 s
        measured.Observe(Cycle(0, 0, draft: 0, verify: 0.04, stall: 0.01));      // 1 token in 0.05 s

        Assert.Equal(2, measured.Cycles(2));
        Assert.Equal(1, measured.Cycles(0));
        Assert.Equal(3, measured.TotalCycles);
        Assert.Null(measured.Point(1, 1e9));

        const double link = 2e9;
        var points = measured.Points(link);
        Assert.Equal([0, 2], points.Select(p => p.Depth));
        var two = points[1];
        Assert.Equal(2, two.ExpectedTokens, 12);                  // 4 tokens over 2 cycles
        Assert.Equal(0.15, two.CycleSeconds, 12);
        Assert.Equal(0.06, two.ComputeSeconds, 12);
        Assert.Equal(4 / 0.30, two.Throughput, 9);                // Σ tokens / Σ seconds, not a mean of rates
        Assert.Equal(0.09 * link, two.SynchronousBytes, 3);       // mean stall × B_link
        Assert.Equal(2 / (0.09 * link) * 1e9, two.Intensity * 1e9, 9);
        Assert.Equal(2 / 0.06, two.ComputeRoof, 9);
        Assert.Equal(2 / 0.09, two.LinkRoof, 9);
        Assert.Equal(link * two.Intensity, two.LinkRoof, 9);      // on the diagonal y = B_link · x
        Assert.Equal(1 / 0.05, points[0].Throughput, 9);
    }

    [Fact]
    public void WithoutAStallTheIntensityIsInfiniteAndNoLinkRoofApplies()
    {
        var measured = new MeasuredRoofline(2);
        measured.Observe(Cycle(1, 1, draft: 0.01, verify: 0.04, stall: 0));
        var point = measured.Point(1, 5e9)!;
        Assert.Equal(0, point.SynchronousBytes);
        Assert.True(double.IsPositiveInfinity(point.Intensity));
        Assert.True(double.IsPositiveInfinity(point.LinkRoof));
        Assert.Equal(point.ComputeRoof, point.Throughput, 9);
    }

    [Fact]
    public void OnAWorkloadTheModelDescribesExactlyMeasuredAndPredictedPointsCoincide()
    {
        // Every draft accepted and costs exactly of the model's form: once learnt, the prediction is what ran.
        var workload = new Workload { Resident = false, NewPerDepth = 2, InitExperts = 3, DraftPerToken = 0.004, Bandwidth = 4e9 };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 6, AcceptancePrior = 1, ProbeInterval = 0 });
        for (int round = 0; round < 60; round++)
            for (int k = 0; k <= governor.MaxDepth; k++) governor.ObserveCycle(workload.Observe(k, k));

        var predicted = governor.Roofline();
        var measured = governor.MeasuredPoints();
        Assert.Equal(governor.MaxDepth + 1, measured.Count);
        for (int k = 0; k <= governor.MaxDepth; k++)
        {
            var (p, m) = (predicted[k], measured[k]);
            Assert.Equal(k, m.Depth);
            Assert.Equal(60, governor.Measured.Cycles(k));
            Assert.Equal(workload.Throughput(k, 1), m.Throughput, 9);
            Assert.InRange(m.Throughput / p.Throughput, 1 - 1e-6, 1 + 1e-6);
            Assert.InRange(m.SynchronousBytes / p.SynchronousBytes, 1 - 1e-6, 1 + 1e-6);
            Assert.InRange(m.Intensity / p.Intensity, 1 - 1e-6, 1 + 1e-6);
            Assert.InRange(m.ComputeRoof / p.ComputeRoof, 1 - 1e-6, 1 + 1e-6);
            Assert.InRange(m.LinkRoof / p.LinkRoof, 1 - 1e-6, 1 + 1e-6);
        }
    }

    [Fact]
    public void AFixedDepthSweepMeasuresEveryDepthThroughTheGovernor()
    {
        var workload = new Workload();
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 4, Resident = true, AcceptancePrior = 0, ProbeInterval = 2 });
        for (int k = 0; k <= governor.MaxDepth; k++)
        {
            governor.FixedDepth = k;
            for (int cycle = 0; cycle < 3; cycle++)
            {
                int chosen = governor.ChooseDepth();
                Assert.Equal(k, chosen);
                governor.ObserveCycle(workload.Observe(chosen, 0));
            }
        }
        for (int k = 0; k <= governor.MaxDepth; k++) Assert.Equal(3, governor.Measured.Cycles(k));
        Assert.Equal(governor.MaxDepth + 1, governor.MeasuredPoints().Count);

        // Released, the model chooses again, and the sweep did not advance the probe count.
        governor.FixedDepth = null;
        Assert.Equal(0, governor.BestDepth());
        Assert.Equal([0, 1], new[] { governor.ChooseDepth(), governor.ChooseDepth() });

        Assert.Throws<ArgumentOutOfRangeException>(() => governor.FixedDepth = 5);
        Assert.Throws<ArgumentOutOfRangeException>(() => governor.FixedDepth = -1);
        Assert.Null(governor.FixedDepth);
    }

    [Fact]
    public void InvalidInputsAreRejectedAndChangeNothing()
    {
        var measured = new MeasuredRoofline(3);
        measured.Observe(Cycle(1, 1, draft: 0.01, verify: 0.05, stall: 0.01));
        Assert.ThrowsAny<ArgumentException>(() => measured.Observe(Cycle(4, 0, draft: 0.01, verify: 0.05, stall: 0)));
        Assert.ThrowsAny<ArgumentException>(() => measured.Observe(Cycle(1, 2, draft: 0.01, verify: 0.05, stall: 0)));
        Assert.ThrowsAny<ArgumentException>(() => measured.Observe(Cycle(1, 1, draft: 0.01, verify: -1, stall: 0)));
        Assert.ThrowsAny<ArgumentException>(() => measured.Point(4, 1e9));
        Assert.ThrowsAny<ArgumentException>(() => measured.Point(1, -1));
        Assert.ThrowsAny<ArgumentException>(() => measured.Points(double.NaN));
        Assert.ThrowsAny<ArgumentException>(() => new MeasuredRoofline(-1));
        Assert.Equal(1, measured.TotalCycles);
        Assert.Equal(2 / 0.07, measured.Point(1, 1e9)!.Throughput, 9);
    }
}

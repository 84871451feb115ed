using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>Θ(k), its argmax and the roofline quantities against evaluations from the definitions.</summary>
public sealed class AmortizationRooflineTests
{
    // Θ(k) = (1 + Σ_{i≤k} Π_{j≤i} p_j) / (max(T_draft, T_io_init) + T_io_new + T_verify(k + 1)), from the parts.
    // With z > 0, each p_j is its optimistic value, as the governor's choice uses.
    static double BruteForceTheta(SpeculationGovernor governor, int k, double z = 0)
    {
        double tokens = 1, product = 1;
        for (int i = 1; i <= k; i++)
        {
            product *= governor.Acceptance.Optimistic(i, z);
            tokens += product;
        }
        var costs = governor.Costs;
        // A plain step (k = 0) has no lookahead: its measured stall stands in for the two I/O terms.
        double cycle = k == 0
            ? costs.StallSeconds(0) + costs.VerifySeconds(1)
            : Math.Max(costs.DraftSeconds(k), costs.IoInitSeconds) + costs.IoNewSeconds(k) + costs.VerifySeconds(k + 1);
        return tokens / cycle;
    }

    [Fact]
    public void TheChosenDepthIsTheBruteForceArgmax()
    {
        var random = new Random(1234);
        for (int trial = 0; trial < 200; trial++)
        {
            int maxDepth = 1 + random.Next(12);
            var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = maxDepth, Resident = random.Next(3) == 0 });
            var workload = new Workload
            {
                Resident = governor.Options.Resident,
                DraftIntercept = random.NextDouble() * 0.01,
                DraftPerToken = random.NextDouble() * 0.02,
                VerifyOne = 0.01 + random.NextDouble() * 0.1,
                VerifyPerPosition = random.NextDouble() * 0.01,
                NewPerDepth = random.Next(6),
                InitExperts = random.Next(4),
                Overhead = random.NextDouble() * 0.005,
                Bandwidth = 1e9 + random.NextDouble() * 2e10,
            };
            double p = random.NextDouble();
            int cycles = random.Next(40);
            for (int c = 0; c < cycles; c++)
            {
                int k = random.Next(maxDepth + 1);
                int accepted = 0;
                while (accepted < k && random.NextDouble() < p) accepted++;
                governor.ObserveCycle(workload.Observe(k, accepted));
            }

            int best = 0, optimisticBest = 0;
            double z = governor.Options.AcceptanceExploration;
            for (int k = 0; k <= maxDepth; k++)
            {
                double theta = BruteForceTheta(governor, k);
                Assert.Equal(theta, governor.PredictedThroughput(k), 9);
                if (theta > BruteForceTheta(governor, best)) best = k;
                if (BruteForceTheta(governor, k, z) > BruteForceTheta(governor, optimisticBest, z)) optimisticBest = k;
            }
            Assert.Equal(best, governor.Model.BestDepth());
            Assert.Equal(optimisticBest, governor.BestDepth());
        }
    }

    [Fact]
    public void ThroughputSitsUnderBothRoofs()
    {
        var workload = new Workload { Resident = false, NewPerDepth = 4, InitExperts = 3, Overhead = 0.001 };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8 });
        for (int k = 0; k <= 8; k++) governor.ObserveCycle(workload.Observe(k, k / 2));
        var points = governor.Roofline();
        Assert.Equal(9, points.Count);
        foreach (var point in points)
        {
            int k = point.Depth;
            Assert.Equal(governor.PredictedThroughput(k), point.Throughput, 12);
            Assert.Equal(governor.Model.ExpectedTokens(k), point.ExpectedTokens, 12);
            Assert.Equal(point.ExpectedTokens / point.SynchronousBytes, point.Intensity, 12);
            Assert.Equal(workload.Bandwidth * point.Intensity, point.LinkRoof, 6);
            Assert.Equal(point.ExpectedTokens / (workload.Draft(k) + workload.Verify(k + 1)), point.ComputeRoof, 6);
            Assert.True(point.Throughput <= Math.Min(point.ComputeRoof, point.LinkRoof));
            // Compute and synchronous I/O add up: 1/Θ = 1/compute roof + 1/link roof.
            Assert.Equal(1 / point.Throughput, 1 / point.ComputeRoof + 1 / point.LinkRoof, 9);
        }
    }

    [Fact]
    public void WithoutASlowTierTheLinkRoofIsInfiniteAndThroughputIsTheComputeRoof()
    {
        var workload = new Workload();
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 4, Resident = true });
        for (int k = 0; k <= 4; k++) governor.ObserveCycle(workload.Observe(k, k));
        foreach (var point in governor.Roofline())
        {
            Assert.Equal(0, point.SynchronousBytes);
            Assert.True(double.IsPositiveInfinity(point.Intensity));
            Assert.True(double.IsPositiveInfinity(point.LinkRoof));
            Assert.Equal(point.ComputeRoof, point.Throughput, 12);
        }
    }

    [Fact]
    public void PlainDecodingYieldsOneTokenPerVerification()
    {
        var workload = new Workload { VerifyOne = 0.04 };
        var governor = new SpeculationGovernor(new GovernorOptions { Resident = true });
        governor.ObserveCycle(workload.Observe(0, 0));
        Assert.Equal(1, governor.Model.ExpectedTokens(0));
        Assert.Equal(25, governor.PredictedThroughput(0), 9);   // 1 token / T_verify(1)

        var offloaded = new Workload { Resident = false, InitExperts = 2, VerifyOne = 0.04 };   // 20 ms of reads nothing hides
        var slow = new SpeculationGovernor();
        slow.ObserveCycle(offloaded.Observe(0, 0));
        Assert.Equal(1 / 0.06, slow.PredictedThroughput(0), 9);
    }

    [Fact]
    public void TheModelsMustCoverTheSameDepths()
    {
        var options = new GovernorOptions { MaxDepth = 4 };
        Assert.ThrowsAny<ArgumentException>(() => new AmortizationRoofline(new AcceptanceEstimate(5), new CycleCostModel(options)));
    }

    [Fact]
    public void PlainStepsThatFetchEverythingDoNotHoldTheModelAtKZero()
    {
        // Plain decoding fetches a token's 24 experts on the critical path; a cycle's lookahead names 3 new experts a
        // depth and leaves 2 to fetch besides. Once both kinds were seen, the model must prefer the draft that the
        // truth prefers, however many plain steps it saw last.
        var workload = new Workload
        {
            Resident = false, PlainExperts = 24, InitExperts = 2, NewPerDepth = 3, ExpertBytes = 300_000, Bandwidth = 7e7,
            DraftPerToken = 0.006, VerifyOne = 0.006, VerifyPerPosition = 0.001,
        };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8 });
        for (int c = 0; c < 20; c++) governor.ObserveCycle(workload.Observe(8, 7));
        for (int c = 0; c < 40; c++) governor.ObserveCycle(workload.Observe(0, 0));
        int truth = workload.BestDepth(8, 0.95);
        Assert.True(truth >= 1, "the workload should favour speculating");
        Assert.Equal(truth, governor.BestDepth());
        for (int k = 0; k <= 8; k++) Assert.Equal(workload.Cycle(k), governor.Costs.CycleSeconds(k), 5);
    }
}

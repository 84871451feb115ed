using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>The online governor: its choices in the regimes the model predicts, drift, probing, reporting, allocation.</summary>
public sealed class SpeculationGovernorTests
{
    // Acceptance held at the prior: these tests are about costs.
    static GovernorOptions FixedAcceptance(double p, bool resident) => new()
    {
        MaxDepth = 8, Resident = resident, AcceptancePrior = p, AcceptanceSmoothing = 1e-12, AcceptancePriorWeight = 1e12, AcceptancePoolWeight = 1e12, ProbeInterval = 0,
    };

    static void Train(SpeculationGovernor governor, Workload workload, int rounds = 3)
    {
        for (int round = 0; round < rounds; round++)
            for (int k = 0; k <= governor.MaxDepth; k++) governor.ObserveCycle(workload.Observe(k, k));
    }

    [Fact]
    public void FreeIoACheapDraftAndHighAcceptanceDraftDeep()
    {
        var workload = new Workload { DraftPerToken = 0.001, VerifyOne = 0.02, VerifyPerPosition = 0.001 };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8, Resident = true, ProbeInterval = 0 });
        for (int cycle = 0; cycle < 200; cycle++)
        {
            int k = governor.ChooseDepth();
            governor.ObserveCycle(workload.Observe(k, cycle % 20 == 0 ? k / 2 : k));   // ~97% of depths pass
        }
        Assert.Equal(8, governor.BestDepth());
        Assert.Equal(8, governor.ChooseDepth());
    }

    [Fact]
    public void WhenTheDraftIsAlwaysWrongTheGovernorStopsSpeculating()
    {
        var workload = new Workload();
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8, Resident = true, ProbeInterval = 0 });
        for (int cycle = 0; cycle < 100; cycle++)
        {
            int k = governor.ChooseDepth();
            governor.ObserveCycle(workload.Observe(k, 0));
        }
        Assert.Equal(0, governor.BestDepth());
        Assert.Equal(0, governor.ChooseDepth());
        Assert.True(governor.PredictedThroughput(0) > governor.PredictedThroughput(1));
    }

    [Fact]
    public void ASlowLinkAndANewExpertHungryDraftMoveTheOptimumWherePredicted()
    {
        const double p = 0.9;
        var fast = new Workload { Resident = false, NewPerDepth = 4, Bandwidth = 1e13 };
        var slow = new Workload { Resident = false, NewPerDepth = 4, Bandwidth = 2e9 };   // 40 ms of new experts per depth

        var onFast = new SpeculationGovernor(FixedAcceptance(p, resident: false));
        var onSlow = new SpeculationGovernor(FixedAcceptance(p, resident: false));
        Train(onFast, fast);
        Train(onSlow, slow);

        Assert.Equal(8, fast.BestDepth(8, p));
        Assert.Equal(1, slow.BestDepth(8, p));
        Assert.Equal(fast.BestDepth(8, p), onFast.BestDepth());
        Assert.Equal(slow.BestDepth(8, p), onSlow.BestDepth());
        for (int k = 0; k <= 8; k++)
            Assert.Equal(slow.Throughput(k, p), onSlow.PredictedThroughput(k), 6);

        // The same slow link with a draft whose ELB the cache already covers: speculation hides the I/O again.
        var cached = new Workload { Resident = false, NewPerDepth = 0, InitExperts = 4, Bandwidth = 2e9 };
        var onCached = new SpeculationGovernor(FixedAcceptance(p, resident: false));
        Train(onCached, cached);
        Assert.Equal(cached.BestDepth(8, p), onCached.BestDepth());
        Assert.True(onCached.BestDepth() > onSlow.BestDepth());
    }

    [Fact]
    public void TheChoiceFollowsDriftingAcceptance()
    {
        var workload = new Workload();
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8, Resident = true, ProbeInterval = 8 });
        for (int cycle = 0; cycle < 100; cycle++)
        {
            int k = governor.ChooseDepth();
            governor.ObserveCycle(workload.Observe(k, k));
        }
        Assert.Equal(8, governor.BestDepth());

        // The text turns unpredictable: nothing the draft proposes passes.
        for (int cycle = 0; cycle < 100; cycle++)
        {
            int k = governor.ChooseDepth();
            governor.ObserveCycle(workload.Observe(k, 0));
        }
        Assert.Equal(0, governor.BestDepth());

        // And predictable again: the probes at depth 1 notice, and the governor climbs back.
        for (int cycle = 0; cycle < 400; cycle++)
        {
            int k = governor.ChooseDepth();
            governor.ObserveCycle(workload.Observe(k, k));
        }
        Assert.Equal(8, governor.BestDepth());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void OneRejectionAtARarelyDraftedDepthDoesNotCapTheDepth(bool pooledAndOptimistic)
    {
        // A slow tier the draft hides well: with the draft passing 97% of the time, k = 8 is best by far.
        var workload = new Workload { Resident = false, NewPerDepth = 1, InitExperts = 6 };
        Assert.Equal(8, workload.BestDepth(8, 0.97));
        var options = new GovernorOptions { MaxDepth = 8, ProbeInterval = 0 };
        if (!pooledAndOptimistic) options = options with { AcceptancePoolWeight = 1e-9, AcceptanceExploration = 0 };   // per-depth averages only
        var governor = new SpeculationGovernor(options);

        // Many cycles at depth 3, nearly all passing; then one deep cycle, unlucky at depth 5.
        governor.FixedDepth = 3;
        for (int cycle = 0; cycle < 60; cycle++) governor.ObserveCycle(workload.Observe(3, cycle % 30 == 0 ? 2 : 3));
        governor.FixedDepth = 8;
        governor.ObserveCycle(workload.Observe(8, 4));
        governor.FixedDepth = null;

        if (pooledAndOptimistic)
        {
            // One outcome at depth 5 against sixty that say the draft is good: the governor drafts deep.
            Assert.Equal(8, governor.ChooseDepth());
        }
        else
        {
            // Read alone, that outcome says depth 5 never passes, and no depth beyond 4 is worth drafting again.
            Assert.Equal(0, governor.Acceptance.Probability(5), 6);
            Assert.Equal(4, governor.ChooseDepth());
        }
    }

    [Fact]
    public void EveryProbeIntervalTheNextDepthUpIsTried()
    {
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 4, Resident = true, AcceptancePrior = 0, ProbeInterval = 4 });
        int[] chosen = new int[8];
        for (int i = 0; i < chosen.Length; i++) chosen[i] = governor.ChooseDepth();
        Assert.Equal([0, 0, 0, 1, 0, 0, 0, 1], chosen);

        var deep = new SpeculationGovernor(new GovernorOptions { MaxDepth = 4, Resident = true, AcceptancePrior = 1, ProbeInterval = 1 });
        Assert.Equal(4, deep.ChooseDepth());   // nothing above the ceiling to probe
    }

    [Fact]
    public void WithASlowTierTheFirstChoiceAndProbesDraftTheDeepestDepthUntilItIsMeasured()
    {
        var workload = new Workload { Resident = false, NewPerDepth = 1, InitExperts = 2 };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 6, AcceptancePrior = 0, ProbeInterval = 3 });
        Assert.Equal(6, governor.ChooseDepth());   // nothing measured: one deep cycle measures every depth below it
        var chosen = new List<int>();
        for (int i = 0; i < 6; i++)
        {
            int k = governor.ChooseDepth();
            chosen.Add(k);
            // Only cycles below the deepest are observed, so the probes keep going deep.
            governor.ObserveCycle(workload.Observe(Math.Min(k, 5), 0));
        }
        Assert.Equal([0, 6, 0, 0, 6, 0], chosen);
        governor.ObserveCycle(workload.Observe(6, 0));
        Assert.Equal(governor.BestDepth(), governor.ChooseDepth());
        Assert.Equal(governor.BestDepth() + 1, governor.ChooseDepth());   // measured: probes step one depth up again
    }

    [Fact]
    public void PredictedAndMeasuredThroughputAgreeOnAStationaryWorkload()
    {
        var random = new Random(42);
        var workload = new Workload { Resident = false, NewPerDepth = 1, InitExperts = 2, DraftPerToken = 0.004, Bandwidth = 8e9 };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8, MeasurementWindow = 512 });
        Assert.Equal(0, governor.MeasuredThroughput);
        for (int cycle = 0; cycle < 2000; cycle++)
        {
            int k = governor.ChooseDepth();
            int accepted = 0;
            while (accepted < k && random.NextDouble() < 0.75) accepted++;
            governor.ObserveCycle(workload.Observe(k, accepted));
        }
        var report = governor.Report();
        Assert.Equal(governor.BestDepth(), report.Depth);
        Assert.Equal(512, report.Cycles);
        Assert.Equal(governor.PredictedThroughput(report.Depth), report.PredictedThroughput, 12);
        // What the model forecast for the cycles it ran is what they measured.
        Assert.InRange(report.MeasuredThroughput / report.ForecastThroughput, 0.95, 1.05);
        // Its choice is close to the true optimum: the throughput curve is flat near k*, so estimation noise in p
        // costs little, and the measured rate (probes included) is close to the best any fixed depth gives.
        double optimum = workload.Throughput(workload.BestDepth(8, 0.75), 0.75);
        Assert.InRange(workload.Throughput(report.Depth, 0.75) / optimum, 0.97, 1.0);
        Assert.InRange(report.MeasuredThroughput / optimum, 0.93, 1.05);
    }

    [Fact]
    public void DecodingCyclesAllocateNothing()
    {
        var workload = new Workload { Resident = false, NewPerDepth = 2, InitExperts = 1 };
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 8, ProbeInterval = 3 });
        var random = new Random(3);
        void Run(int cycles)
        {
            for (int cycle = 0; cycle < cycles; cycle++)
            {
                int k = governor.ChooseDepth();
                var observation = workload.Observe(k, random.Next(k + 1));
                governor.ObserveCycle(observation);
                _ = governor.Report();
            }
        }
        Run(500);   // warm-up: JIT tiers
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(2000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void InvalidObservationsAreRejectedAndChangeNothing()
    {
        var governor = new SpeculationGovernor(new GovernorOptions { MaxDepth = 4 });
        var workload = new Workload { Resident = false, NewPerDepth = 1 };
        governor.ObserveCycle(workload.Observe(2, 1));
        double before = governor.PredictedThroughput(2);

        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(2, 1) with { DraftSeconds = -0.1 }));
        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(2, 1) with { IoStallSeconds = double.NaN }));
        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(2, 1) with { BytesRead = -1 }));
        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(2, 3)));
        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(2, 1) with { NewExperts = new[] { 1 } }));
        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(2, 1) with { NewExperts = new[] { 3, 1 } }));
        Assert.ThrowsAny<ArgumentException>(() => governor.ObserveCycle(workload.Observe(5, 0)));
        Assert.ThrowsAny<ArgumentException>(() => governor.PredictedThroughput(5));
        Assert.ThrowsAny<ArgumentException>(() => governor.PredictedThroughput(-1));

        Assert.Equal(1, governor.WindowCycles);
        Assert.Equal(before, governor.PredictedThroughput(2));
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => new SpeculationGovernor(new GovernorOptions { MaxDepth = 0 }));
        Assert.ThrowsAny<ArgumentException>(() => new SpeculationGovernor(new GovernorOptions { MaxDepth = 33 }));
        Assert.ThrowsAny<ArgumentException>(() => new SpeculationGovernor(new GovernorOptions { AcceptancePrior = -0.1 }));
        Assert.ThrowsAny<ArgumentException>(() => new SpeculationGovernor(new GovernorOptions { CostSmoothing = 0 }));
        Assert.ThrowsAny<ArgumentException>(() => new SpeculationGovernor(new GovernorOptions { VerifyOnePositionPrior = 0 }));
        Assert.ThrowsAny<ArgumentException>(() => new SpeculationGovernor(new GovernorOptions { MeasurementWindow = 0 }));
    }
}

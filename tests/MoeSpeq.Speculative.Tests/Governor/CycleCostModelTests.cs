using MoeSpeq.Speculative.Governor;
using Xunit;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>T_cycle(k) = max(T_draft(k), T_io_init) + T_io_new(k) + T_verify(k + 1), learnt from observations.</summary>
public sealed class CycleCostModelTests
{
    const int MaxDepth = 8;

    static CycleCostModel Trained(Workload workload, bool resident)
    {
        var model = new CycleCostModel(new GovernorOptions { MaxDepth = MaxDepth, Resident = resident });
        for (int round = 0; round < 4; round++)
            for (int k = 0; k <= MaxDepth; k++) model.Observe(workload.Observe(k, 0));
        return model;
    }

    [Fact]
    public void ResidentExpertsCostNoIo()
    {
        var workload = new Workload { Resident = true };
        var model = Trained(workload, resident: true);
        for (int k = 0; k <= MaxDepth; k++)
        {
            Assert.Equal(0, model.IoNewSeconds(k));
            Assert.Equal(0, model.StallSeconds(k));
            Assert.Equal(0, model.SynchronousBytes(k));
            Assert.Equal(workload.Draft(k) + workload.Verify(k + 1), model.CycleSeconds(k), 9);
        }
        Assert.Equal(0, model.DraftSeconds(0));
    }

    [Fact]
    public void EveryTermIsRecoveredFromASlowTiersObservations()
    {
        var workload = new Workload
        {
            Resident = false, NewPerDepth = 3, InitExperts = 2, Overhead = 0.0005,
            DraftIntercept = 0.001, DraftPerToken = 0.004,
        };
        var model = Trained(workload, resident: false);
        Assert.Equal(workload.Bandwidth, model.LinkBytesPerSecond, 3);
        Assert.Equal(workload.ExpertBytes, model.ExpertBytes);
        Assert.Equal(workload.IoInit, model.IoInitSeconds, 9);           // 2 experts · 20 MB / 2 GB/s = 20 ms
        Assert.Equal(workload.Overhead, model.IoOverheadSeconds, 9);
        Assert.Equal(0.001, model.DraftFit.Intercept, 5);
        Assert.Equal(0.004, model.DraftFit.Slope, 5);
        for (int k = 0; k <= MaxDepth; k++)
        {
            Assert.Equal(3.0 * k, model.NewExperts.Expected(k), 9);
            Assert.Equal(workload.IoNew(k), model.IoNewSeconds(k), 9);
            Assert.Equal(workload.Cycle(k), model.CycleSeconds(k), 6);
            // The cycle is its compute plus the stall on the critical path.
            Assert.Equal(model.CycleSeconds(k), model.ComputeSeconds(k) + model.StallSeconds(k), 12);
        }
        // At k = 0 nothing hides T_io_init; a 5-token draft (21 ms) hides all of it.
        Assert.Equal(workload.IoInit, model.StallSeconds(0), 9);
        Assert.Equal(workload.IoNew(5), model.StallSeconds(5), 9);
    }

    [Fact]
    public void UntilBandwidthIsKnownBytesCostNothing()
    {
        var model = new CycleCostModel(new GovernorOptions { NewExpertsPerDepthPrior = 4, ExpertBytesPrior = 1_000_000 });
        Assert.Equal(0, model.IoNewSeconds(3));
        var known = new CycleCostModel(new GovernorOptions { NewExpertsPerDepthPrior = 4, ExpertBytesPrior = 1_000_000, LinkBandwidthPrior = 1e9 });
        Assert.Equal(0.012, known.IoNewSeconds(3), 12);   // 3 depths · 4 experts · 1 MB / 1 GB/s
    }

    [Fact]
    public void InvalidObservationsAreRejected()
    {
        var model = new CycleCostModel(new GovernorOptions { MaxDepth = 4 });
        var workload = new Workload();
        Assert.ThrowsAny<ArgumentException>(() => model.Observe(workload.Observe(5, 0)));
        Assert.ThrowsAny<ArgumentException>(() => model.Observe(workload.Observe(2, 0) with { VerifySeconds = -1 }));
        Assert.ThrowsAny<ArgumentException>(() => model.DraftSeconds(5));
        Assert.ThrowsAny<ArgumentException>(() => model.VerifySeconds(6));
    }
}

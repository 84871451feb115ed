using MoeSpeq.Speculative.Governor;

namespace MoeSpeq.Speculative.Tests.Governor;

/// <summary>
/// A synthetic machine with known costs: draft a + b·k, verify c + g·(n − 1), a slow tier whose k-deep ELB adds
/// <see cref="NewPerDepth"/> experts a depth, plus <see cref="InitExperts"/> more read every cycle (T_io_init).
/// Its observations are exactly what the model assumes, so the model can be checked against the truth.
/// </summary>
sealed class Workload
{
    public double DraftIntercept = 0, DraftPerToken = 0.002;
    public double VerifyOne = 0.05, VerifyPerPosition = 0.001;
    public int NewPerDepth = 0, InitExperts = 0;
    /// <summary>Experts a plain step (k = 0) fetches on the critical path; −1: the same as <see cref="InitExperts"/>.</summary>
    public int PlainExperts = -1;
    public long ExpertBytes = 20_000_000;
    public double Bandwidth = 2e9, Overhead = 0;
    public bool Resident = true;

    readonly int[] _newExperts = new int[32];   // reused: observations slice it, so cycles allocate nothing

    public double Draft(int k) => k == 0 ? 0 : DraftIntercept + DraftPerToken * k;
    public double Verify(int positions) => VerifyOne + VerifyPerPosition * (positions - 1);
    public double IoInit => Resident ? 0 : InitExperts * (double)ExpertBytes / Bandwidth;
    public double IoNew(int k) => Resident || k == 0 ? 0 : Overhead + k * NewPerDepth * (double)ExpertBytes / Bandwidth;
    public double PlainStall => Resident ? 0 : (PlainExperts < 0 ? InitExperts : PlainExperts) * (double)ExpertBytes / Bandwidth;
    public double Cycle(int k) => k == 0 ? PlainStall + Verify(1) : Math.Max(Draft(k), IoInit) + IoNew(k) + Verify(k + 1);

    /// <summary>Θ(k) for an acceptance of <paramref name="p"/> at every depth, straight from the definitions.</summary>
    public double Throughput(int k, double p)
    {
        double tokens = 1;
        for (int i = 1; i <= k; i++) tokens += Math.Pow(p, i);
        return tokens / Cycle(k);
    }

    public int BestDepth(int maxDepth, double p)
    {
        int best = 0;
        for (int k = 1; k <= maxDepth; k++)
            if (Throughput(k, p) > Throughput(best, p)) best = k;
        return best;
    }

    public CycleObservation Observe(int k, int accepted)
    {
        for (int d = 1; d <= k; d++) _newExperts[d - 1] = d * NewPerDepth;
        long bytes = Resident ? 0 : (long)(k == 0 && PlainExperts >= 0 ? PlainExperts : k * NewPerDepth + InitExperts) * ExpertBytes;
        double stall = k == 0 ? PlainStall : Math.Max(0, IoInit - Draft(k)) + IoNew(k);
        return new CycleObservation
        {
            Depth = k,
            Accepted = accepted,
            DraftSeconds = Draft(k),
            VerifySeconds = Verify(k + 1),
            IoStallSeconds = stall,
            BytesRead = bytes,
            NewExperts = _newExperts.AsMemory(0, k),
            ExpertBytes = Resident ? 0 : ExpertBytes,
            LinkBytesPerSecond = Resident ? 0 : Bandwidth,
        };
    }
}

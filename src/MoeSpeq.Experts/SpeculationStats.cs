using System.Text;

namespace MoeSpeq.Experts;

/// <summary>
/// Counters of speculative decoding, kept in the runtime's one <see cref="ExpertStats"/> object so that every front
/// end prints them beside the cache's: cycles, acceptance per draft depth, the draft's and the verification's share
/// of time, how well the draft's routing (its Expert Lookahead Buffer) foresaw the target's, and the speculative
/// cycles' expert I/O per accepted token. Updated on the compute thread only.
/// </summary>
public sealed class SpeculationStats
{
    const int MaxDepth = 64;
    readonly long[] _proposedAt = new long[MaxDepth + 1]; // [depth]: cycles that drafted this deep
    readonly long[] _acceptedAt = new long[MaxDepth + 1]; // [depth]: … and had this depth accepted
    long _cycles, _tokens, _draftTicks, _verifyTicks, _bytesRead;
    long _matchSlots, _matchHits, _matchSets, _matchFullSets;
    long _lookaheadPredicted, _lookaheadTrue, _lookaheadActual;
    long _verifyAccesses, _verifyHits;

    /// <summary>
    /// One cycle: <paramref name="proposed"/> draft tokens, the first <paramref name="accepted"/> of them accepted,
    /// <paramref name="emitted"/> tokens produced (the accepted ones and the target's own), the time each phase took,
    /// and the expert bytes read from the slow tier and expert uses and ready hits of the verification pass.
    /// </summary>
    public void AddCycle(int proposed, int accepted, int emitted, TimeSpan draft, TimeSpan verify, long bytesRead, long verifyAccesses, long verifyHits)
    {
        if (accepted > proposed || proposed > MaxDepth) throw new ArgumentOutOfRangeException(nameof(accepted));
        _cycles++;
        _tokens += emitted;
        for (int d = 1; d <= proposed; d++) _proposedAt[d]++;
        for (int d = 1; d <= accepted; d++) _acceptedAt[d]++;
        _draftTicks += draft.Ticks;
        _verifyTicks += verify.Ticks;
        _bytesRead += bytesRead;
        _verifyAccesses += verifyAccesses;
        _verifyHits += verifyHits;
    }

    /// <summary>One verified position of one layer: the draft chose <paramref name="matched"/> of the target's <paramref name="k"/> experts.</summary>
    public void AddExpertMatch(int matched, int k)
    {
        _matchSets++;
        _matchSlots += k;
        _matchHits += matched;
        if (matched == k) _matchFullSets++;
    }

    /// <summary>One layer of a verification: the ELB named <paramref name="predicted"/> experts, <paramref name="predictedTrue"/> of which the target used, of the <paramref name="actual"/> it used.</summary>
    public void AddLookahead(int predicted, int predictedTrue, int actual)
    {
        _lookaheadPredicted += predicted;
        _lookaheadTrue += predictedTrue;
        _lookaheadActual += actual;
    }

    public Values Snapshot()
    {
        var rates = new double[MaxDepth];
        int deepest = 0;
        for (int d = 1; d <= MaxDepth; d++)
        {
            if (_proposedAt[d] == 0) continue;
            rates[d - 1] = (double)_acceptedAt[d] / _proposedAt[d];
            deepest = d;
        }
        long accepted = 0, drafted = 0;
        for (int d = 1; d <= MaxDepth; d++)
        {
            accepted += _acceptedAt[d];
            drafted += _proposedAt[d];
        }
        return new Values(_cycles, _tokens, drafted, accepted, rates[..deepest], TimeSpan.FromTicks(_draftTicks),
            TimeSpan.FromTicks(_verifyTicks), _bytesRead,
            Ratio(_matchHits, _matchSlots), Ratio(_matchFullSets, _matchSets),
            Ratio(_lookaheadTrue, _lookaheadPredicted), Ratio(_lookaheadTrue, _lookaheadActual), Ratio(_verifyHits, _verifyAccesses));
    }

    public void Reset()
    {
        Array.Clear(_proposedAt);
        Array.Clear(_acceptedAt);
        _cycles = _tokens = _draftTicks = _verifyTicks = _bytesRead = 0;
        _matchSlots = _matchHits = _matchSets = _matchFullSets = 0;
        _lookaheadPredicted = _lookaheadTrue = _lookaheadActual = 0;
        _verifyAccesses = _verifyHits = 0;
    }

    static double Ratio(long a, long b) => b == 0 ? 0 : (double)a / b;

    /// <param name="Drafted">Draft tokens proposed over all cycles.</param>
    /// <param name="AcceptanceByDepth">[d − 1]: of the cycles that drafted depth d, the share that accepted it.</param>
    /// <param name="ExpertMatch">Of the target's expert choices at verified positions, the share the draft made too (top-k overlap).</param>
    /// <param name="ExpertSetMatch">Of verified (position, layer) pairs, the share where the draft chose exactly the target's top-k set.</param>
    /// <param name="LookaheadPrecision">Of the experts the ELB named for a layer, the share verification used.</param>
    /// <param name="LookaheadRecall">Of the experts verification used at a layer, the share the ELB named.</param>
    /// <param name="VerifyHitRate">Expert uses of verification passes served from the cache with no wait.</param>
    public readonly record struct Values(
        long Cycles, long Tokens, long Drafted, long Accepted, double[] AcceptanceByDepth, TimeSpan Draft, TimeSpan Verify, long BytesRead,
        double ExpertMatch, double ExpertSetMatch, double LookaheadPrecision, double LookaheadRecall, double VerifyHitRate)
    {
        /// <summary>Tokens drafted per cycle, the mean depth k.</summary>
        public double MeanDepth => Cycles == 0 ? 0 : (double)Drafted / Cycles;
        /// <summary>Draft tokens accepted per cycle.</summary>
        public double MeanAccepted => Cycles == 0 ? 0 : (double)Accepted / Cycles;
        /// <summary>Tokens produced per cycle (accepted drafts plus the target's own token).</summary>
        public double TokensPerCycle => Cycles == 0 ? 0 : (double)Tokens / Cycles;
        public double DraftShare => (Draft + Verify).Ticks == 0 ? 0 : (double)Draft.Ticks / (Draft + Verify).Ticks;
        public double BytesPerToken => Tokens == 0 ? 0 : (double)BytesRead / Tokens;

        public override string ToString()
        {
            if (Cycles == 0) return "speculation: no cycles";
            var text = new StringBuilder();
            text.Append($"speculation: {Cycles} cycles, {TokensPerCycle:F2} tokens/cycle, {MeanAccepted:F2} drafts accepted/cycle; acceptance by depth ");
            text.AppendJoin(' ', AcceptanceByDepth.Select(r => r.ToString("P0")));
            text.Append($"; draft {DraftShare:P0} of time; draft experts match {ExpertMatch:P1} (top-k set {ExpertSetMatch:P1}); ");
            text.Append($"ELB precision {LookaheadPrecision:P1}, recall {LookaheadRecall:P1}; verification hit rate {VerifyHitRate:P1}; ");
            text.Append($"{BytesPerToken / 1e6:F2} MB read/token");
            return text.ToString();
        }
    }
}

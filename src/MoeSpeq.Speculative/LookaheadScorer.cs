using MoeSpeq.Experts;

namespace MoeSpeq.Speculative;

/// <summary>
/// Scores an <see cref="ExpertLookaheadBuffer"/> against the routing of the verification pass, layer by layer, into
/// <see cref="SpeculationStats"/>: per verified position the draft also forecast (row r is depth r + 1), the overlap
/// of the top-k sets; per layer, the ELB's union against the union verification used, which is what prefetching from
/// the ELB gains or wastes. Both drafts are scored by it, so their figures compare.
/// </summary>
internal sealed class LookaheadScorer(int experts)
{
    readonly bool[] _predicted = new bool[experts], _used = new bool[experts]; // [experts] scratch of one layer

    /// <param name="ids">The verification's routing of <paramref name="layer"/>: [tokens, k].</param>
    public void Score(ExpertLookaheadBuffer elb, SpeculationStats stats, int layer, ReadOnlySpan<int> ids, int tokens, int k)
    {
        Array.Clear(_predicted);
        Array.Clear(_used);
        for (int d = 1; d <= elb.Depth; d++)
        {
            if (!elb.Has(d, layer)) continue;
            var drafted = elb.Experts(d, layer);
            foreach (int e in drafted) if (e >= 0) _predicted[e] = true;
            if (d > tokens) continue;
            int matched = 0;
            foreach (int e in ids.Slice((d - 1) * k, k)) if (drafted.Contains(e)) matched++;
            stats.AddExpertMatch(matched, k);
        }
        foreach (int e in ids[..(tokens * k)]) _used[e] = true;
        int predicted = 0, right = 0, used = 0;
        for (int e = 0; e < _used.Length; e++)
        {
            if (_used[e]) used++;
            if (!_predicted[e]) continue;
            predicted++;
            if (_used[e]) right++;
        }
        if (predicted > 0) stats.AddLookahead(predicted, right, used);
    }
}

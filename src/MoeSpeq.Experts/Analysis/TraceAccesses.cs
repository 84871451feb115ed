using MoeSpeq.Experts.Tracing;

namespace MoeSpeq.Experts.Analysis;

/// <summary>
/// A trace as the cache sees it: per forward pass and MoE layer, one group of the distinct experts its tokens use,
/// in ascending id (the order the executor acquires them), and for each access the index of the same expert's next
/// access, which is all Belady's MIN needs.
/// </summary>
public sealed class TraceAccesses
{
    public TraceAccesses(ExpertTrace trace)
    {
        var shape = trace.Shape;
        int experts = shape.Experts;
        var keys = new List<int>();
        var groupStart = new List<int>();
        var groupStep = new List<int>();
        var used = new bool[experts];
        for (int s = 0; s < trace.Steps.Count; s++)
        {
            var step = trace.Steps[s];
            for (int m = 0; m < shape.MoeLayerCount; m++)
            {
                Array.Clear(used);
                for (int t = step.FirstToken; t < step.FirstToken + step.Tokens; t++)
                    foreach (int e in trace.Ids(t, m)) used[e] = true;
                groupStart.Add(keys.Count);
                groupStep.Add(s);
                for (int e = 0; e < experts; e++)
                    if (used[e]) keys.Add(shape.MoeLayers[m] * experts + e);
            }
        }
        groupStart.Add(keys.Count);
        Keys = [.. keys];
        GroupStart = [.. groupStart];
        GroupStep = [.. groupStep];
        NextUse = new int[Keys.Length];
        var seen = new Dictionary<int, int>();
        for (int i = Keys.Length - 1; i >= 0; i--)
        {
            NextUse[i] = seen.TryGetValue(Keys[i], out int next) ? next : int.MaxValue;
            seen[Keys[i]] = i;
        }
        Trace = trace;
    }

    public ExpertTrace Trace { get; }
    /// <summary>[accesses] layer · experts + expert.</summary>
    public int[] Keys { get; }
    /// <summary>[groups + 1] first access of each (forward pass, MoE layer) group.</summary>
    public int[] GroupStart { get; }
    /// <summary>[groups] the trace step each group belongs to.</summary>
    public int[] GroupStep { get; }
    /// <summary>[accesses] index of the next access of the same expert, or int.MaxValue.</summary>
    public int[] NextUse { get; }
    public int GroupCount => GroupStep.Length;
    /// <summary>Position among the MoE layers of group <paramref name="g"/>: groups run the MoE layers in order, once per forward pass.</summary>
    public int GroupLayer(int g) => g % Trace.Shape.MoeLayerCount;
}

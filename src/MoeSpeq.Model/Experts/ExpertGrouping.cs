using System.Diagnostics;

namespace MoeSpeq.Model.Experts;

/// <summary>
/// Groups the (position, slot) assignments of a batch by expert with a counting sort, so that an executor reads
/// each expert's weights once and applies them to all the positions routed to it. Buffers are sized once.
/// </summary>
public sealed class ExpertGrouping
{
    readonly int[] _offsets;
    int[] _slots;

    public ExpertGrouping(int experts, int capacity)
    {
        _offsets = new int[experts + 1];
        _slots = new int[capacity];
    }

    public int ExpertCount => _offsets.Length - 1;

    /// <summary>Groups the slots t·k + j of <paramref name="ids"/> ([tokens, k]) by expert id.</summary>
    public void Build(ReadOnlySpan<int> ids, int tokens, int k)
    {
        int n = tokens * k;
        if (_slots.Length < n) _slots = new int[n];
        var offsets = _offsets.AsSpan();
        offsets.Clear();
        for (int s = 0; s < n; s++)
        {
            int e = ids[s];
            if ((uint)e >= (uint)ExpertCount) throw new ArgumentOutOfRangeException(nameof(ids), $"expert id {e} outside 0..{ExpertCount - 1}");
            offsets[e + 1]++;
        }
        for (int e = 0; e < ExpertCount; e++) offsets[e + 1] += offsets[e];
        for (int s = 0; s < n; s++)
        {
            int e = ids[s];
            // offsets[e] is used as the fill cursor and restored below, so no second array is needed.
            _slots[offsets[e]++] = s;
        }
        for (int e = ExpertCount; e > 0; e--) offsets[e] = offsets[e - 1];
        offsets[0] = 0;
        Debug.Assert(offsets[ExpertCount] == n);
    }

    /// <summary>Slots (t·k + j) routed to <paramref name="expert"/>, in increasing order.</summary>
    public ReadOnlySpan<int> SlotsOf(int expert) => _slots.AsSpan(_offsets[expert], _offsets[expert + 1] - _offsets[expert]);
}

namespace MoeSpeq.Experts.Tracing;

/// <summary>
/// Numbers the tokens an expert executor sees. The executor is called layer by layer; a call for a layer at or below
/// the previous one (or the first after a sequence start) opens the next forward pass, whose tokens follow the last.
/// </summary>
internal sealed class StepTracker
{
    int _lastLayer = int.MaxValue;
    int _stepTokens;
    bool _sequenceStart = true;

    /// <summary>Index of the current forward pass's first token.</summary>
    public int FirstToken { get; private set; }
    /// <summary>Forward passes opened so far.</summary>
    public int Steps { get; private set; }

    public void OnSequenceStart()
    {
        _sequenceStart = true;
        _lastLayer = int.MaxValue;
    }

    /// <summary>Records a call for <paramref name="layer"/> over <paramref name="tokens"/> tokens; true when it opens a new forward pass.</summary>
    public bool Advance(int layer, int tokens, out bool sequenceStart)
    {
        sequenceStart = false;
        bool opens = _sequenceStart || layer <= _lastLayer;
        _lastLayer = layer;
        if (!opens) return false;
        if (Steps > 0) FirstToken += _stepTokens;
        Steps++;
        _stepTokens = tokens;
        sequenceStart = _sequenceStart;
        _sequenceStart = false;
        return true;
    }
}

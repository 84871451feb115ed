namespace MoeSpeq.Model.Experts;

/// <summary>Identity of one routed expert: its layer and its index within the layer.</summary>
public readonly record struct ExpertKey(int Layer, int Expert)
{
    public override string ToString() => $"L{Layer}/E{Expert}";
}

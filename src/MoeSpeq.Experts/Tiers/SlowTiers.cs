namespace MoeSpeq.Experts.Tiers;

/// <summary>The slow tiers by the names <c>--slow-tier</c> takes (<c>resident</c> needs none: experts load with the model).</summary>
public static class SlowTiers
{
    public static readonly IReadOnlyList<string> Names = ["disk", "resident"];

    public static ISlowTier Open(string name, string modelPath) => name switch
    {
        "disk" => new DiskTier(modelPath),
        _ => throw new ArgumentException($"unknown slow tier \"{name}\" (choose from {string.Join(", ", Names)})"),
    };
}

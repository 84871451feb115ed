namespace MoeSpeq.Experts.Tiers;

/// <summary>The slow tiers by the names <c>--slow-tier</c> takes (<c>resident</c> needs none: experts load with the model).</summary>
public static class SlowTiers
{
    public static readonly IReadOnlyList<string> Names = ["disk", "host", "resident"];

    /// <summary>
    /// Opens the tier <paramref name="options"/> name for the experts <paramref name="catalog"/> locates in the model's
    /// files (<see cref="ExpertCatalog.Files"/>: the GGUF file at <paramref name="modelPath"/>, or the shards of the
    /// model directory at <paramref name="modelPath"/>).
    /// </summary>
    public static ISlowTier Open(OffloadOptions options, ExpertCatalog catalog, string modelPath) => options.SlowTier switch
    {
        "disk" => new DiskTier(catalog.Files),
        "host" => new HostTier(catalog.Files, catalog.FileRanges(), new EmulatedLink(options.LinkBandwidthGBps, options.LinkLatencyMicroseconds)),
        _ => throw new ArgumentException($"unknown slow tier \"{options.SlowTier}\" (choose from {string.Join(", ", Names)})"),
    };
}

namespace MoeSpeq.Speculative;

/// <summary>
/// How a generation speculates, chosen at the edge (CLI, server) and injected: the depth (<c>off</c>, a fixed k, or
/// <c>auto</c> for the Amortization Roofline governor), its ceiling, and which draft proposes the tokens.
/// </summary>
public sealed record SpeculationOptions
{
    /// <summary>Fixed draft depth k; 0 is plain decoding. Ignored when <see cref="Auto"/>.</summary>
    public int Depth { get; init; }
    /// <summary>The governor picks k each cycle, up to <see cref="MaxDepth"/>.</summary>
    public bool Auto { get; init; }
    public int MaxDepth { get; init; } = 8;

    public bool Enabled => Auto || Depth > 0;

    /// <summary>Parses <c>off</c>, <c>auto</c> or a depth 1..<paramref name="maxDepth"/>.</summary>
    public static SpeculationOptions Parse(string spec, int maxDepth)
    {
        if (maxDepth < 1 || maxDepth > 32) throw new ArgumentException($"--max-k {maxDepth} must be in 1..32");
        return spec switch
        {
            "off" or "0" => new SpeculationOptions { MaxDepth = maxDepth },
            "auto" => new SpeculationOptions { Auto = true, MaxDepth = maxDepth },
            _ when int.TryParse(spec, out int k) && k >= 1 && k <= maxDepth => new SpeculationOptions { Depth = k, MaxDepth = maxDepth },
            _ => throw new ArgumentException($"--speculate {spec}: expected off, auto or a depth in 1..{maxDepth} (--max-k)"),
        };
    }
}

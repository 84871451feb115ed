using System.Globalization;

namespace MoeSpeq.Experts;

/// <summary>
/// An expert-cache budget as users write it: bytes with a unit (<c>2GiB</c>, <c>512MB</c>, <c>1000000</c>), a share of
/// all expert bytes (<c>25%</c>; the live cache resolves it against its slots, so it holds that share of the experts),
/// or <c>min</c>: the smallest cache that runs, one layer's experts (on-demand loading).
/// </summary>
public readonly record struct ExpertBudget(long Bytes, double Fraction)
{
    /// <summary>Exactly the slots one layer's experts need at once: every use is read again, as with no cache at all.</summary>
    public static ExpertBudget OneLayer => new(-1, 0);

    public bool IsOneLayer => Bytes < 0;

    public static ExpertBudget Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        if (t.Equals("min", StringComparison.OrdinalIgnoreCase)) return OneLayer;
        if (t.EndsWith('%'))
        {
            if (!double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double pct) || !(pct > 0) || pct > 100)
                throw new ArgumentException($"expert cache \"{text}\": a percentage must be in (0, 100]");
            return new ExpertBudget(0, pct / 100);
        }
        (string Suffix, long Scale)[] units = [("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)];
        long scale = 1;
        foreach (var (suffix, s) in units)
        {
            if (!t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            t = t[..^suffix.Length].Trim();
            scale = s;
            break;
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || value * scale > long.MaxValue / 2)
            throw new ArgumentException($"expert cache \"{text}\": expected a size such as 2GiB or 512MB, or a percentage such as 25%");
        return new ExpertBudget((long)(value * scale), 0);
    }

    /// <summary>The budget in bytes for a model whose routed experts take <paramref name="totalExpertBytes"/>.</summary>
    /// <param name="oneLayerBytes">What one layer's experts take, for <see cref="OneLayer"/>.</param>
    public long Resolve(long totalExpertBytes, long oneLayerBytes = 0) => IsOneLayer ? oneLayerBytes : Fraction > 0 ? (long)(Fraction * totalExpertBytes) : Bytes;

    public override string ToString() => IsOneLayer ? "min (one layer)" : Fraction > 0 ? $"{Fraction * 100:G4}%" : $"{Bytes / (double)(1 << 20):F1} MiB";
}

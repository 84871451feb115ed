using System.Globalization;
using MoeSpeq.Formats;

namespace MoeSpeq.Experts;

/// <summary>
/// An expert-cache budget as users write it: bytes with a unit (<c>2GiB</c>, <c>512MB</c>, <c>1000000</c>), a share of
/// all experts (<c>25%</c>: room for a quarter of them), or <c>min</c>: the smallest cache that runs, one layer's experts
/// (on-demand loading).
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
        if (!ByteSize.TryParse(t, out long bytes) || bytes == 0)
            throw new ArgumentException($"expert cache \"{text}\": expected a size such as 2GiB or 512MB, or a percentage such as 25%");
        return new ExpertBudget(bytes, 0);
    }

    /// <summary>The budget in bytes for a model whose routed experts take <paramref name="totalExpertBytes"/> (in cache slots).</summary>
    /// <param name="oneLayerBytes">What one layer's experts take, for <see cref="OneLayer"/>.</param>
    public long Resolve(long totalExpertBytes, long oneLayerBytes = 0) => IsOneLayer ? oneLayerBytes : Fraction > 0 ? (long)(Fraction * totalExpertBytes) : Bytes;

    public override string ToString() => IsOneLayer ? "min (one layer)" : Fraction > 0 ? $"{Fraction * 100:G4}%" : $"{Bytes / (double)(1 << 20):F1} MiB";
}

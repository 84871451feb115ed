using System.Globalization;

namespace MoeSpeq.Formats;

/// <summary>Sizes as users write them on the command line: a number with an optional unit, <c>2GiB</c>, <c>512MB</c>, <c>4096</c>.</summary>
public static class ByteSize
{
    static readonly (string Suffix, long Scale)[] Units =
        [("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)];

    /// <summary>
    /// Bytes of <paramref name="text"/> (units case-insensitive, binary and decimal); false unless it is a
    /// non-negative number of bytes small enough to add to another size without overflow.
    /// </summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        string t = text.Trim();
        long scale = 1;
        foreach (var (suffix, s) in Units)
        {
            if (!t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            t = t[..^suffix.Length].Trim();
            scale = s;
            break;
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value >= 0) || value * scale > long.MaxValue / 2)
            return false;
        bytes = (long)(value * scale);
        return true;
    }
}

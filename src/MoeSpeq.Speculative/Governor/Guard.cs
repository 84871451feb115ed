namespace MoeSpeq.Speculative.Governor;

/// <summary>Argument checks at the governor's public edge.</summary>
static class Guard
{
    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="value"/> is finite and not negative.</summary>
    public static void NonNegative(double value, string name)
    {
        if (!(value >= 0) || double.IsInfinity(value))
            throw new ArgumentException($"{name} must be finite and >= 0, got {value}", name);
    }
}

namespace MoeSpeq.Tensors.Tests;

/// <summary>
/// The one place tolerances are written down. Kernels may sum in any order, so results are compared relative to
/// Σ|products| (the scale of the rounding error of any summation order), not to the sum itself.
/// </summary>
internal static class Tolerance
{
    /// <summary>SIMD kernel vs its scalar reference: both sum float block results, in different orders.</summary>
    public const double KernelVsReference = 1e-5;

    /// <summary>Float kernels and references vs an F64 dot of the dequantized values.</summary>
    public const double VersusExact = 2e-5;

    public static void AssertClose(double expected, double actual, double absScale, double relative, string what)
    {
        double bound = relative * absScale + 1e-30;
        if (!(Math.Abs(expected - actual) <= bound))
            throw new Xunit.Sdk.XunitException($"{what}: expected {expected:R}, got {actual:R}, |diff| {Math.Abs(expected - actual):E3} > {bound:E3} (Σ|products| {absScale:E3})");
    }
}

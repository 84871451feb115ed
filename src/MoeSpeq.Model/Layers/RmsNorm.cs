using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

public static class RmsNorm
{
    /// <summary>
    /// dst[i] = x[i] / sqrt(mean(x²) + eps) · weight[i]. The sum of squares is accumulated in double, as ggml
    /// does, so the result does not depend on vector width.
    /// </summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> dst, float eps)
    {
        Debug.Assert(weight.Length == x.Length && dst.Length >= x.Length);
        double sum = 0;
        foreach (float v in x) sum += v * v;
        float scale = 1f / MathF.Sqrt((float)(sum / x.Length) + eps);
        for (int i = 0; i < x.Length; i++) dst[i] = x[i] * scale * weight[i];
    }

    /// <summary>Row-wise <see cref="Apply"/> over <paramref name="rows"/> rows of x.Length / rows values.</summary>
    public static void ApplyRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> dst, int rows, float eps)
    {
        int n = weight.Length;
        for (int r = 0; r < rows; r++) Apply(x.Slice(r * n, n), weight, dst.Slice(r * n, n), eps);
    }
}

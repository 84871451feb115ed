using System.Numerics.Tensors;

namespace MoeSpeq.Model.Layers;

public static class Bias
{
    /// <summary>Adds <paramref name="bias"/> to each of the rows of x ([rows, bias.Length]); a null bias adds nothing.</summary>
    public static void AddRows(Span<float> x, float[]? bias, int rows)
    {
        if (bias is null) return;
        int width = bias.Length;
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * width, width);
            TensorPrimitives.Add(row, bias, row);
        }
    }
}

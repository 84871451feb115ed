using System.Runtime.InteropServices;
using MoeSpeq.Tensors;

namespace MoeSpeq.Benchmarks;

/// <summary>A quantized weight matrix in 64-byte-aligned native memory plus matching activations.</summary>
internal sealed unsafe class KernelData : IDisposable
{
    public readonly byte* Weights;
    public readonly WeightMatrix Matrix;
    public readonly float[] Activations;
    public readonly byte[] QuantizedRow;

    public KernelData(GgmlType type, int rows, int cols, int batch)
    {
        int rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        Weights = (byte*)NativeMemory.AlignedAlloc((nuint)((long)rowBytes * rows), 64);
        var rng = new Random(42);
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) row[c] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
            Quantize.Row(type, row, new Span<byte>(Weights + (long)r * rowBytes, rowBytes));
        }
        Matrix = new WeightMatrix(type, rows, cols, Weights);
        Activations = new float[batch * cols];
        for (int i = 0; i < Activations.Length; i++) Activations[i] = (float)(rng.NextDouble() * 2 - 1);
        var xType = VecDot.TypeFor(type);
        QuantizedRow = new byte[GgmlTypeInfo.RowBytes(xType, cols)];
        VecDot.QuantizeActivation(xType, Activations.AsSpan(0, cols), QuantizedRow);
    }

    public void Dispose() => NativeMemory.AlignedFree(Weights);
}

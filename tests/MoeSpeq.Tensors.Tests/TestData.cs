using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>Deterministic inputs shaped like model weights and activations.</summary>
internal static class TestData
{
    /// <summary>Gaussian-ish values with occasional outliers, the shape quantizers meet in real tensors.</summary>
    public static float[] Weights(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            if (rng.Next(64) == 0) g *= 6;
            v[i] = (float)(g * scale);
        }
        return v;
    }

    /// <summary>Random bytes for a row of <paramref name="type"/>, with every F16 scale replaced by a sane finite value.</summary>
    public static byte[] RandomRow(GgmlType type, int n, int seed)
    {
        // Quantizing random floats yields valid blocks of every layout; raw random bytes would put NaN/Inf in scales.
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, n)];
        Quantize.Row(type, Weights(n, seed, 0.05f), bytes);
        return bytes;
    }

    /// <summary>Every block-quantized type, the activation-only Q8_1 included.</summary>
    public static TheoryData<GgmlType> QuantTypes => new([.. Stored, GgmlType.Q8_1]);

    /// <summary>Block-quantized types with a dequantize path (Q8_1 only ever holds activations).</summary>
    public static TheoryData<GgmlType> StoredQuantTypes => new(Stored);

    static readonly GgmlType[] Stored =
    [
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K, GgmlType.MXFP4,
    ];

    public static readonly GgmlType[] WeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.MXFP4,
    ];
}

/// <summary>The value a dot kernel should produce, summed in F64, with the one rounding the format itself imposes.</summary>
internal static class ExpectedDot
{
    /// <summary>
    /// Σ w·x over the dequantized rows, plus for Q8_1 activations the difference between the block's stored
    /// S = F16(d·Σq) and its exact value times the weight block's minimum: ggml's Q4_1/Q5_1 dots use the stored S.
    /// </summary>
    public static (double Value, double AbsScale) Compute(GgmlType weight, ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, ReadOnlySpan<float> wDeq, ReadOnlySpan<float> xDeq)
    {
        double s = 0, a = 0;
        for (int i = 0; i < wDeq.Length; i++)
        {
            double p = (double)wDeq[i] * xDeq[i];
            s += p;
            a += Math.Abs(p);
        }
        if (VecDot.TypeFor(weight) == GgmlType.Q8_1)
        {
            int wBlock = GgmlTypeInfo.BlockBytes(weight);
            for (int b = 0; b < wDeq.Length / 32; b++)
            {
                double m = (double)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(w.Slice(b * wBlock + 2, 2)));
                var xb = x.Slice(b * 36, 36);
                double d = (double)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(xb));
                double stored = (double)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(xb[2..]));
                int sum = 0;
                for (int j = 0; j < 32; j++) sum += (sbyte)xb[4 + j];
                s += m * (stored - (float)d * sum);
            }
        }
        return (s, a);
    }
}

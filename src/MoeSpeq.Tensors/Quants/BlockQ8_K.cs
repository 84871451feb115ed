using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q8_K: 256 signed bytes with an F32 scale and the sum of every 16 values, so k-quant dots subtract their minimums
/// from the sums instead of touching each activation again. The vec-dot type of Q2_K..Q6_K; never stored in files.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_K
{
    public const int Elements = 256;
    public const int Bytes = 292;

    public float D;
    public fixed sbyte Qs[256];
    public fixed short BSums[16];

    internal static void Dequantize(BlockQ8_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            for (int j = 0; j < Elements; j++) y[j] = x[i].D * x[i].Qs[j];
        }
    }

    /// <summary>
    /// ggml's reference (also its x86 activation quantizer): scale −127/max by the signed value of largest magnitude,
    /// nearest-even levels clamped to 127. An all-zero block gets d = 0 and zero sums (ggml leaves the sums unwritten).
    /// </summary>
    internal static void Quantize(float* x, BlockQ8_K* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float max = 0, amax = 0;
            for (int j = 0; j < Elements; j++)
            {
                float ax = MathF.Abs(x[j]);
                if (ax > amax) { amax = ax; max = x[j]; }
            }
            if (amax == 0)
            {
                new Span<byte>(&y[i], Bytes).Clear();
                continue;
            }
            float iscale = -127f / max;
            for (int j = 0; j < Elements; j++) y[i].Qs[j] = (sbyte)Math.Min(127, QuantMath.NearestInt(iscale * x[j]));
            for (int j = 0; j < 16; j++)
            {
                int sum = 0;
                for (int ii = 0; ii < 16; ii++) sum += y[i].Qs[j * 16 + ii];
                y[i].BSums[j] = (short)sum;
            }
            y[i].D = 1 / iscale;
        }
    }
}

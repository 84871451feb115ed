using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q4_0: 32 weights as 4-bit levels q ∈ [0, 16) with one F16 scale: w = d·(q − 8).
/// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_0
{
    public const int Elements = 32;
    public const int Bytes = 18;

    public ushort D;
    public fixed byte Qs[16];

    internal static void Dequantize(BlockQ4_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = Fp16.ToSingle(x[i].D);
            for (int j = 0; j < 16; j++)
            {
                int x0 = (x[i].Qs[j] & 0x0F) - 8;
                int x1 = (x[i].Qs[j] >> 4) - 8;
                y[j] = x0 * d;
                y[j + 16] = x1 * d;
            }
        }
    }

    /// <summary>ggml's reference: d = max/−8 where max is the signed value of largest magnitude, q = min(15, ⌊x/d + 8.5⌋).</summary>
    internal static void Quantize(float* x, BlockQ4_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0, max = 0;
            for (int j = 0; j < Elements; j++)
            {
                if (amax < MathF.Abs(x[j])) { amax = MathF.Abs(x[j]); max = x[j]; }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = Fp16.FromSingle(d);
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
                y[i].Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }
}

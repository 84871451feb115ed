using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>Q4_1: 32 weights as 4-bit levels with an F16 scale and an F16 minimum: w = d·q + m. Nibble order as <see cref="BlockQ4_0"/>.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_1
{
    public const int Elements = 32;
    public const int Bytes = 20;

    public ushort D;
    public ushort M;
    public fixed byte Qs[16];

    internal static void Dequantize(BlockQ4_1* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = Fp16.ToSingle(x[i].D);
            float m = Fp16.ToSingle(x[i].M);
            for (int j = 0; j < 16; j++)
            {
                y[j] = (x[i].Qs[j] & 0x0F) * d + m;
                y[j + 16] = (x[i].Qs[j] >> 4) * d + m;
            }
        }
    }

    /// <summary>ggml's reference: d = (max − min)/15, q = min(15, ⌊(x − min)/d + 0.5⌋).</summary>
    internal static void Quantize(float* x, BlockQ4_1* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float min = float.MaxValue, max = -float.MaxValue;
            for (int j = 0; j < Elements; j++)
            {
                if (x[j] < min) min = x[j];
                if (x[j] > max) max = x[j];
            }
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = Fp16.FromSingle(d);
            y[i].M = Fp16.FromSingle(min);
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(15, (int)((x[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, (int)((x[j + 16] - min) * id + 0.5f));
                y[i].Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }
}

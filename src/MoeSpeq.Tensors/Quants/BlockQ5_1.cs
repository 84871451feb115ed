using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>Q5_1: 32 weights as 5-bit levels with an F16 scale and minimum: w = d·q + m. Bit layout as <see cref="BlockQ5_0"/>.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_1
{
    public const int Elements = 32;
    public const int Bytes = 24;

    public ushort D;
    public ushort M;
    public fixed byte Qh[4];
    public fixed byte Qs[16];

    internal static void Dequantize(BlockQ5_1* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = Fp16.ToSingle(x[i].D);
            float m = Fp16.ToSingle(x[i].M);
            uint qh = *(uint*)x[i].Qh;
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((x[i].Qs[j] & 0x0F) | h0) * d + m;
                y[j + 16] = ((x[i].Qs[j] >> 4) | h1) * d + m;
            }
        }
    }

    /// <summary>ggml's reference: d = (max − min)/31, q = ⌊(x − min)/d + 0.5⌋.</summary>
    internal static void Quantize(float* x, BlockQ5_1* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float min = float.MaxValue, max = -float.MaxValue;
            for (int j = 0; j < Elements; j++)
            {
                if (x[j] < min) min = x[j];
                if (x[j] > max) max = x[j];
            }
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = Fp16.FromSingle(d);
            y[i].M = Fp16.FromSingle(min);
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                // ggml truncates to uint8 without clamping; (max − min)·id + 0.5 stays below 32 for finite input.
                int q0 = (byte)(int)((x[j] - min) * id + 0.5f);
                int q1 = (byte)(int)((x[j + 16] - min) * id + 0.5f);
                y[i].Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 & 0x10) >> 4) << j;
                qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
            }
            *(uint*)y[i].Qh = qh;
        }
    }
}

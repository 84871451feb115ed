using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q5_0: 32 weights as 5-bit levels q ∈ [0, 32) with one F16 scale: w = d·(q − 16). The low 4 bits are packed as in
/// <see cref="BlockQ4_0"/>; bit j of the little-endian 32-bit <see cref="Qh"/> is the fifth bit of element j.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_0
{
    public const int Elements = 32;
    public const int Bytes = 22;

    public ushort D;
    public fixed byte Qh[4];
    public fixed byte Qs[16];

    internal static void Dequantize(BlockQ5_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = Fp16.ToSingle(x[i].D);
            uint qh = *(uint*)x[i].Qh;
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((x[i].Qs[j] & 0x0F) | h0) - 16) * d;
                y[j + 16] = (((x[i].Qs[j] >> 4) | h1) - 16) * d;
            }
        }
    }

    /// <summary>ggml's reference: d = max/−16, q = min(31, ⌊x/d + 16.5⌋).</summary>
    internal static void Quantize(float* x, BlockQ5_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0, max = 0;
            for (int j = 0; j < Elements; j++)
            {
                if (amax < MathF.Abs(x[j])) { amax = MathF.Abs(x[j]); max = x[j]; }
            }
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = Fp16.FromSingle(d);
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(31, (int)(x[j] * id + 16.5f));
                int q1 = Math.Min(31, (int)(x[j + 16] * id + 16.5f));
                y[i].Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 & 0x10) >> 4) << j;
                qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
            }
            *(uint*)y[i].Qh = qh;
        }
    }
}

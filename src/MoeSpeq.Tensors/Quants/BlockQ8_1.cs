using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// Q8_1: 32 signed bytes with an F16 scale d and S = d·Σq in F16, so a dot with an offset format (Q4_1, Q5_1) adds
/// m·S instead of summing the activation again. Only ever an activation (vec-dot) type.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_1
{
    public const int Elements = 32;
    public const int Bytes = 36;

    public ushort D;
    public ushort S;
    public fixed sbyte Qs[32];

    internal static void Dequantize(BlockQ8_1* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = Fp16.ToSingle(x[i].D);
            for (int j = 0; j < Elements; j++) y[j] = x[i].Qs[j] * d;
        }
    }

    /// <summary>ggml's reference: as <see cref="BlockQ8_0.Quantize"/> plus S = F16(Σq·d).</summary>
    internal static void Quantize(float* x, BlockQ8_1* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0;
            for (int j = 0; j < Elements; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = Fp16.FromSingle(d);
            int sum = 0;
            for (int j = 0; j < Elements; j++)
            {
                sbyte q = (sbyte)QuantMath.RoundAway(x[j] * id);
                y[i].Qs[j] = q;
                sum += q;
            }
            y[i].S = Fp16.FromSingle(sum * d);
        }
    }

    /// <summary>llama.cpp's x86 activation quantizer: see <see cref="BlockQ8_0.QuantizeActivation"/>, plus S = F16(d·Σq).</summary>
    internal static void QuantizeActivation(float* x, BlockQ8_1* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0;
            for (int j = 0; j < Elements; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float d = amax / 127f;
            y[i].D = Fp16.FromSingle(d);
            float id = amax != 0.0f ? 127f / amax : 0.0f;
            int sum = 0;
            for (int j = 0; j < Elements; j++)
            {
                sbyte q = (sbyte)MathF.Round(x[j] * id, MidpointRounding.ToEven);
                y[i].Qs[j] = q;
                sum += q;
            }
            y[i].S = Fp16.FromSingle(d * sum);
        }
    }
}

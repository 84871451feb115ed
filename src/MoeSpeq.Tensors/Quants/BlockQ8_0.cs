using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>Q8_0: 32 weights as signed bytes with one F16 scale: w = d·q. Also the vec-dot type of Q4_0, Q5_0 and Q8_0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_0
{
    public const int Elements = 32;
    public const int Bytes = 34;

    public ushort D;
    public fixed sbyte Qs[32];

    internal static void Dequantize(BlockQ8_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = Fp16.ToSingle(x[i].D);
            for (int j = 0; j < Elements; j++) y[j] = x[i].Qs[j] * d;
        }
    }

    /// <summary>ggml's reference (model files): d = amax/127, q = roundf(x·(1/d)) with ties away from zero.</summary>
    internal static void Quantize(float* x, BlockQ8_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0;
            for (int j = 0; j < Elements; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = Fp16.FromSingle(d);
            for (int j = 0; j < Elements; j++) y[i].Qs[j] = (sbyte)QuantMath.RoundAway(x[j] * id);
        }
    }

    /// <summary>
    /// Activation quantizer of llama.cpp's x86 CPU backend (what a mat-mul with Q4_0/Q5_0/Q8_0 weights feeds the dot):
    /// d = amax/127, q = round-half-even(x·(127/amax)). It differs from <see cref="Quantize"/> in the multiplier and the
    /// tie rule; following it is what makes our logits match llama.cpp's on x86.
    /// </summary>
    internal static void QuantizeActivation(float* x, BlockQ8_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0;
            for (int j = 0; j < Elements; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            y[i].D = Fp16.FromSingle(amax / 127f);
            float id = amax != 0.0f ? 127f / amax : 0.0f;
            for (int j = 0; j < Elements; j++) y[i].Qs[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.ToEven);
        }
    }
}

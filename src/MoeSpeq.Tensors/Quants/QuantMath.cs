using System.Runtime.CompilerServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>Rounding helpers shared by the reference quantizers; each reproduces one of ggml's rounding rules exactly.</summary>
internal static class QuantMath
{
    /// <summary>
    /// Round to nearest, ties to even, by adding 1.5·2²³ so the FPU rounds the fraction away (ggml's <c>nearest_int</c>).
    /// Valid for |f| ≤ 4194303; the k-quant searches depend on this exact tie rule, which differs from <c>roundf</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float f)
    {
        float shifted = f + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007fffff) - 0x00400000;
    }

    /// <summary>C's <c>roundf</c>: nearest, ties away from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundAway(float f) => MathF.Round(f, MidpointRounding.AwayFromZero);

    /// <summary>The 6-bit scale and min of sub-block <paramref name="j"/> (0..7) packed in the 12 scale bytes of Q4_K/Q5_K.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void ScaleMinK4(int j, byte* q, out byte scale, out byte min)
    {
        if (j < 4)
        {
            scale = (byte)(q[j] & 63);
            min = (byte)(q[j + 4] & 63);
        }
        else
        {
            scale = (byte)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
            min = (byte)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }

    /// <summary>The 16 signed 6-bit scales of a Q3_K block (stored offset by 32 as 4 low bits + 2 high bits in 12 bytes).</summary>
    public static unsafe void UnpackQ3KScales(byte* packed, sbyte* scales)
    {
        for (int j = 0; j < 16; j++)
        {
            int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
            int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
            scales[j] = (sbyte)((low | (high << 4)) - 32);
        }
    }
}

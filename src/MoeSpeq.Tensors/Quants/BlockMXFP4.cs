using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MoeSpeq.Tensors.Quants;

/// <summary>
/// MXFP4 (OCP microscaling): 32 weights as 4-bit E2M1 codes sharing one E8M0 exponent byte: w = 2^(E − 127)·fp4(q).
/// Byte j holds element j in its low nibble and element j + 16 in its high nibble, as <see cref="BlockQ4_0"/> does.
/// ggml stores the E2M1 values doubled, as the integers of <see cref="Levels"/>, and halves the scale instead
/// (<see cref="HalfScale"/>), so a block's dot with a Q8_0 block stays an integer dot times two float scales.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockMXFP4
{
    public const int Elements = 32;
    public const int Bytes = 17;

    public byte E;
    public fixed byte Qs[16];

    /// <summary>Twice the E2M1 value of each code: sign bit 3, then exponent and mantissa (0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6).</summary>
    public static ReadOnlySpan<sbyte> Levels => [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    /// <summary>2^(e − 128), half the E8M0 scale, built from its bits (e = 0 and 1 give subnormals), as ggml does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfScale(byte e) =>
        BitConverter.Int32BitsToSingle(e < 2 ? 0x00200000 << e : (e - 1) << 23);

    /// <summary><see cref="HalfScale"/> of every exponent byte, for the dot kernels.</summary>
    internal static readonly float[] HalfScales = [.. Enumerable.Range(0, 256).Select(e => HalfScale((byte)e))];

    internal static void Dequantize(BlockMXFP4* x, float* y, int blocks)
    {
        var levels = Levels;
        for (int i = 0; i < blocks; i++, y += Elements)
        {
            float d = HalfScale(x[i].E);
            for (int j = 0; j < 16; j++)
            {
                y[j] = levels[x[i].Qs[j] & 0x0F] * d;
                y[j + 16] = levels[x[i].Qs[j] >> 4] * d;
            }
        }
    }

    /// <summary>
    /// ggml's reference: the exponent puts amax in [4, 8)·2^(e−127)·½ (e = ⌊log2 amax⌋ − 2 + 127), and each value takes
    /// the code of least |level·d − x|, the first such code on a tie.
    /// </summary>
    internal static void Quantize(float* x, BlockMXFP4* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += Elements)
        {
            float amax = 0;
            for (int j = 0; j < Elements; j++) if (amax < MathF.Abs(x[j])) amax = MathF.Abs(x[j]);
            // ggml converts the float straight to a byte: out-of-range exponents wrap, as its cast does on x86.
            byte e = amax > 0 ? unchecked((byte)(int)(MathF.Floor(MathF.Log2(amax)) - 2 + 127)) : (byte)0;
            float d = HalfScale(e);
            y[i].E = e;
            for (int j = 0; j < 16; j++)
                y[i].Qs[j] = (byte)(Nearest(x[j], d) | (Nearest(x[j + 16], d) << 4));
        }
    }

    static int Nearest(float x, float d)
    {
        var levels = Levels;
        int best = 0;
        float bestErr = MathF.Abs(levels[0] * d - x);
        for (int q = 1; q < 16; q++)
        {
            float err = MathF.Abs(levels[q] * d - x);
            if (err < bestErr) (best, bestErr) = (q, err);
        }
        return best;
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

// Vectorised activation quantizers. They produce exactly the bytes of the scalar ones: roundps with the
// nearest mode is the same ties-to-even rounding as MathF.Round and ggml's nearest_int in the ranges used here
// (|value| ≤ 127.5), and float→int conversion of an integral value is exact.
public static unsafe partial class VecDot
{
    static void QuantizeQ8_0Avx2(float* x, byte* y, int blocks, bool withSum)
    {
        int blockBytes = withSum ? 36 : 34;
        for (int i = 0; i < blocks; i++, x += 32, y += blockBytes)
        {
            var v0 = Avx.LoadVector256(x);
            var v1 = Avx.LoadVector256(x + 8);
            var v2 = Avx.LoadVector256(x + 16);
            var v3 = Avx.LoadVector256(x + 24);
            var absMax = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            float amax = MaxAcross(absMax);
            float d = amax / 127f;
            var id = Vector256.Create(amax != 0.0f ? 127f / amax : 0.0f);
            var i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v0 * id));
            var i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v1 * id));
            var i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v2 * id));
            var i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v3 * id));
            *(ushort*)y = Fp16.FromSingle(d);
            if (withSum) *(ushort*)(y + 2) = Fp16.FromSingle(d * Vector256.Sum((i0 + i1) + (i2 + i3)));
            Avx.Store((sbyte*)(y + blockBytes - 32), PackToBytes(i0, i1, i2, i3));
        }
    }

    static void QuantizeQ8_KAvx2(float* x, byte* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 256, y += 292)
        {
            var absMax = Vector256<float>.Zero;
            for (int j = 0; j < 256; j += 8) absMax = Vector256.Max(absMax, Vector256.Abs(Avx.LoadVector256(x + j)));
            float amax = MaxAcross(absMax);
            if (amax == 0)
            {
                new Span<byte>(y, 292).Clear();
                continue;
            }
            // The reference keeps the first element of largest magnitude, and its sign sets the scale's sign.
            // (Bounded so a NaN, which equals nothing, cannot walk off the block.)
            int at = 0;
            while (at < 255 && MathF.Abs(x[at]) != amax) at++;
            float iscale = -127f / x[at];
            var scale = Vector256.Create(iscale);
            var limit = Vector256.Create(127);
            short* bsums = (short*)(y + 260);
            for (int j = 0; j < 256; j += 32)
            {
                var i0 = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.LoadVector256(x + j) * scale)), limit);
                var i1 = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.LoadVector256(x + j + 8) * scale)), limit);
                var i2 = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.LoadVector256(x + j + 16) * scale)), limit);
                var i3 = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.LoadVector256(x + j + 24) * scale)), limit);
                bsums[j / 16] = (short)Vector256.Sum(i0 + i1);
                bsums[j / 16 + 1] = (short)Vector256.Sum(i2 + i3);
                Avx.Store((sbyte*)(y + 4 + j), PackToBytes(i0, i1, i2, i3));
            }
            *(float*)y = 1 / iscale;
        }
    }

    static float MaxAcross(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>32 int32 values in [−128, 127] → 32 bytes in order (the packs work per 128-bit lane, hence the final permute).</summary>
    static Vector256<sbyte> PackToBytes(Vector256<int> i0, Vector256<int> i1, Vector256<int> i2, Vector256<int> i3)
    {
        var s01 = Avx2.PackSignedSaturate(i0, i1);
        var s23 = Avx2.PackSignedSaturate(i2, i3);
        var b = Avx2.PackSignedSaturate(s01, s23);
        return Avx2.PermuteVar8x32(b.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
    }
}

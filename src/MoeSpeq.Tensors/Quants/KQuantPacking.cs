namespace MoeSpeq.Tensors.Quants;

/// <summary>The reference quantizer shared by Q4_K and Q5_K, which differ only in nmax, the search range and the bit packing.</summary>
internal static unsafe class KQuantPacking
{
    public static void QuantizeQ4KOrQ5K(float* x, byte* dst, int blocks, int nmax)
    {
        bool five = nmax == 31;
        int blockBytes = five ? BlockQ5_K.Bytes : BlockQ4_K.Bytes;
        byte* L = stackalloc byte[256];
        byte* laux = stackalloc byte[32];
        float* weights = stackalloc float[32];
        float* mins = stackalloc float[8];
        float* scales = stackalloc float[8];

        for (int i = 0; i < blocks; i++, x += 256, dst += blockBytes)
        {
            // Both layouts start with d, dmin, then 12 scale bytes.
            ushort* dd = (ushort*)dst;
            byte* packedScales = dst + 4;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++)
            {
                float sumX2 = 0;
                for (int l = 0; l < 32; l++) sumX2 += x[32 * j + l] * x[32 * j + l];
                float avX = MathF.Sqrt(sumX2 / 32);
                for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(x[32 * j + l]);
                scales[j] = five
                    ? KQuantSearch.MakeQkx2Quants(32, 31, x + 32 * j, weights, L + 32 * j, out mins[j], laux, -0.5f, 0.1f, 15, false)
                    : KQuantSearch.MakeQkx2Quants(32, 15, x + 32 * j, weights, L + 32 * j, out mins[j], laux, -1f, 0.1f, 20, false);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }

            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                // ggml stores nearest_int into a uint8_t before clamping: keep the wrap.
                int ls = Math.Min(63, (int)(byte)QuantMath.NearestInt(invScale * scales[j]));
                int lm = Math.Min(63, (int)(byte)QuantMath.NearestInt(invMin * mins[j]));
                if (j < 4)
                {
                    packedScales[j] = (byte)ls;
                    packedScales[j + 4] = (byte)lm;
                }
                else
                {
                    packedScales[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                    packedScales[j - 4] |= (byte)((ls >> 4) << 6);
                    packedScales[j] |= (byte)((lm >> 4) << 6);
                }
            }
            dd[0] = Fp16.FromSingle(maxScale / 63f);
            dd[1] = Fp16.FromSingle(maxMin / 63f);

            for (int j = 0; j < 8; j++)
            {
                QuantMath.ScaleMinK4(j, packedScales, out byte sc, out byte m);
                float d = Fp16.ToSingle(dd[0]) * sc;
                if (d == 0) continue;
                float dm = Fp16.ToSingle(dd[1]) * m;
                for (int ii = 0; ii < 32; ii++)
                {
                    int l = QuantMath.NearestInt((x[32 * j + ii] + dm) / d);
                    L[32 * j + ii] = (byte)Math.Max(0, Math.Min(nmax, l));
                }
            }

            if (five)
            {
                byte* qh = dst + 16;
                byte* ql = dst + 48;
                for (int j = 0; j < 32; j++) qh[j] = 0;
                int m1 = 1, m2 = 2;
                for (int n = 0; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
                {
                    for (int j = 0; j < 32; j++)
                    {
                        int l1 = L[n + j];
                        if (l1 > 15) { l1 -= 16; qh[j] |= (byte)m1; }
                        int l2 = L[n + j + 32];
                        if (l2 > 15) { l2 -= 16; qh[j] |= (byte)m2; }
                        ql[j] = (byte)(l1 | (l2 << 4));
                    }
                }
            }
            else
            {
                byte* q = dst + 16;
                for (int j = 0; j < 256; j += 64, q += 32)
                {
                    for (int l = 0; l < 32; l++) q[l] = (byte)(L[j + l] | (L[j + l + 32] << 4));
                }
            }
        }
    }
}

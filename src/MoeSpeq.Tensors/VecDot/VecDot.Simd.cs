using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeSpeq.Tensors;

// Building blocks shared by the AVX2 and AVX-512 kernels. Integer products stay exact: every u8×s8 pair sum
// that goes through a 16-bit step is bounded below 2¹⁵ by the formats' level ranges (noted at each use).
public static unsafe partial class VecDot
{
    /// <summary>
    /// How far ahead of the block being dotted the single-row kernels ask for weights. In decode every weight byte is
    /// read once, from memory; the hardware prefetchers alone left the AVX2 Q4_K and Q8_0 kernels 20–25% short of the
    /// read-bandwidth probe on the same bytes, and a software prefetch 2–4 KiB ahead closed most of it (3 KiB: about
    /// 20 Q4_K or 90 Q8_0 blocks, beyond the next rows of a small matrix). A prefetch never faults, so reaching past the
    /// end of a matrix is harmless.
    /// </summary>
    const int StreamAheadBytes = 3072;

    /// <summary>Asks for the cache line <see cref="StreamAheadBytes"/> beyond <paramref name="weights"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchWeights(byte* weights) => Sse.Prefetch0(weights + StreamAheadBytes);

    /// <summary>acc + Σ of each 4 adjacent u8·s8 products (AVX-VNNI <c>vpdpbusd</c> when present, else maddubs + madd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotU8I8(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, u, s);
        return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One));
    }

    /// <summary>Σ of each 4 adjacent s8·s8 products: |a| times b with a's sign, as u8·s8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotI8I8(Vector256<sbyte> a, Vector256<sbyte> b) =>
        DotU8I8(Vector256<int>.Zero, Avx2.Abs(a), Avx2.Sign(b, a));

    /// <summary>acc + Σ of each 2 adjacent i16·i16 products (AVX-VNNI <c>vpdpwssd</c> when present).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> MaddAcc(Vector256<int> acc, Vector256<short> a, Vector256<short> b)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, a, b);
        return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(a, b));
    }

    /// <summary>Σ of each 4 adjacent s8·s8 products on 512 bits; AVX-512 has no byte sign instruction, so b is negated where a &lt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> DotI8I8(Vector512<sbyte> a, Vector512<sbyte> b)
    {
        var signed = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512<sbyte>.Zero), Vector512<sbyte>.Zero - b, b);
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(a), signed), Vector512<short>.One);
    }

    /// <summary>32 bytes loaded into both halves of a 512-bit vector with one lane insert (<c>Vector512.Create</c> of a 256-bit vector takes two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> LoadIntoBothHalves(byte* p)
    {
        var half = Avx.LoadVector256(p);
        return Avx512F.InsertVector256(half.ToVector512Unsafe(), half, 1);
    }

    /// <summary>The 64 quants of two consecutive Q8_0 blocks (at +2 and +36), block 0 in the low half: one load and one lane insert from memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<sbyte> LoadBlockPair(byte* block) =>
        Avx512F.InsertVector256(Avx.LoadVector256((sbyte*)(block + 2)).ToVector512Unsafe(), Avx.LoadVector256((sbyte*)(block + 36)), 1);

    /// <summary>
    /// [Σa, Σb, Σc, Σd] of four accumulators in one transposing reduction, adding the lanes in exactly the order that
    /// <see cref="Vector512.Sum{T}(Vector512{T})"/> does (neighbours, then neighbouring pairs, then 128-bit quarters
    /// 0+1 and 2+3, then the two halves). A multi-row kernel's rows must equal the single-row kernel's bit for bit,
    /// and four separate <c>Sum</c>s cost more than the dot products of a short row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        // Per 128-bit quarter: [a0+a1, a2+a3, b0+b1, b2+b3] and the same for c, d.
        var ab = Avx512F.Shuffle(a, b, 0b10_00_10_00) + Avx512F.Shuffle(a, b, 0b11_01_11_01);
        var cd = Avx512F.Shuffle(c, d, 0b10_00_10_00) + Avx512F.Shuffle(c, d, 0b11_01_11_01);
        // Per quarter q: [Σa_q, Σb_q, Σc_q, Σd_q].
        var quarters = Avx512F.Shuffle(ab, cd, 0b10_00_10_00) + Avx512F.Shuffle(ab, cd, 0b11_01_11_01);
        var halves = quarters + Avx512F.Shuffle4x128(quarters, quarters, 0b10_11_00_01);
        return halves.GetLower().GetLower() + halves.GetUpper().GetLower();
    }

    /// <summary>The 256-bit form of <see cref="Sum4(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float})"/>, in <see cref="Vector256.Sum{T}(Vector256{T})"/>'s order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        var ab = Avx.Shuffle(a, b, 0b10_00_10_00) + Avx.Shuffle(a, b, 0b11_01_11_01);
        var cd = Avx.Shuffle(c, d, 0b10_00_10_00) + Avx.Shuffle(c, d, 0b11_01_11_01);
        var quarters = Avx.Shuffle(ab, cd, 0b10_00_10_00) + Avx.Shuffle(ab, cd, 0b11_01_11_01);
        return quarters.GetLower() + quarters.GetUpper();
    }

    /// <summary>y[k·stride] = sums[k] for the first <paramref name="count"/> (1 to 4) lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRows(Vector128<float> sums, float* y, nint stride, int count)
    {
        y[0] = sums.ToScalar();
        if (count > 1) y[stride] = sums.GetElement(1);
        if (count > 2) y[2 * stride] = sums.GetElement(2);
        if (count > 3) y[3 * stride] = sums.GetElement(3);
    }

    /// <summary>
    /// Eight F16 values → F32, exactly: normal numbers by re-biasing the exponent, subnormals through an integer
    /// conversion (so no subnormal float ever reaches a multiply), Inf/NaN by saturating the exponent.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> HalfToSingle(Vector128<ushort> h)
    {
        var v = Avx2.ConvertToVector256Int32(h);
        var abs = v & Vector256.Create(0x7fff);
        var normal = (abs << 13) + Vector256.Create(0x38000000);
        normal += Vector256.GreaterThan(abs, Vector256.Create(0x7bff)) & Vector256.Create(0x38000000);
        var sub = Avx.ConvertToVector256Single(abs) * Vector256.Create(1f / 16777216f);
        var r = Vector256.ConditionalSelect(Vector256.LessThan(abs, Vector256.Create(0x0400)).AsSingle(), sub, normal.AsSingle());
        return (r.AsInt32() | ((v & Vector256.Create(0x8000)) << 16)).AsSingle();
    }

    /// <summary>Sixteen F16 values → F32; see the 256-bit overload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> HalfToSingle(Vector256<ushort> h)
    {
        var v = Avx512F.ConvertToVector512Int32(h);
        var abs = v & Vector512.Create(0x7fff);
        var normal = (abs << 13) + Vector512.Create(0x38000000);
        normal += Vector512.GreaterThan(abs, Vector512.Create(0x7bff)) & Vector512.Create(0x38000000);
        var sub = Avx512F.ConvertToVector512Single(abs) * Vector512.Create(1f / 16777216f);
        var r = Vector512.ConditionalSelect(Vector512.LessThan(abs, Vector512.Create(0x0400)).AsSingle(), sub, normal.AsSingle());
        return (r.AsInt32() | ((v & Vector512.Create(0x8000)) << 16)).AsSingle();
    }

    /// <summary>
    /// The 8 six-bit scales (low 8 bytes) and mins (high 8 bytes) packed in the 12 scale bytes of a Q4_K/Q5_K block.
    /// With words s0, s1, s2 of the packed bytes: scales 0–3 = s0 &amp; 0x3f…, mins 0–3 = s1 &amp; 0x3f…, and scales
    /// (mins) 4–7 take their low 4 bits from s2 (s2 ≫ 4) and their top 2 bits from s0's (s1's) top bits. Done in one
    /// vector, since a scalar unpack and its lane inserts cost as much as a block's dot products. Reads 16 bytes; in
    /// both formats the block's level bytes follow the scales.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> UnpackScalesMinsK4(byte* packed)
    {
        var words = Sse2.LoadVector128((uint*)packed);
        var lowBits = Sse2.Shuffle(words, 0b10_01_10_00); // [s0, s2, s1, s2]
        var topBits = Sse2.Shuffle(words, 0b01_00_00_00); // [·, s0, ·, s1]
        var low = Avx2.ShiftRightLogicalVariable(lowBits, Vector128.Create(0u, 0, 0, 4)) & Vector128.Create(0x3f3f3f3fu, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
        // Bits 6–7 of each byte moved to bits 4–5: ((b ≫ 6) & 3) ≪ 4 = (b ≫ 2) & 0x30, bytewise within a word.
        var high = Sse2.ShiftRightLogical(topBits, 2) & Vector128.Create(0u, 0x30303030, 0, 0x30303030);
        return (low | high).AsByte();
    }

    /// <summary>
    /// Σ_g m_g·(bsum_2g + bsum_2g+1) per lane pair for a Q4_K/Q5_K block: each min byte is doubled to line up with
    /// the 16 bsums of its 32 elements. 8 int lanes whose total is the block's min correction.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> MinsTimesBSums(Vector128<byte> scalesMins, short* bsums)
    {
        var doubled = Ssse3.Shuffle(scalesMins, Vector128.Create((byte)8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
        return Avx2.MultiplyAddAdjacent(Avx.LoadVector256(bsums), Avx2.ConvertToVector256Int16(doubled).AsInt16());
    }

    /// <summary>0x10 in byte j where bit j of <paramref name="bits"/> is set (the fifth level bit of Q5_0/Q5_1), else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> FifthBits(uint bits)
    {
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(),
            Vector256.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var select = Vector256.Create(0x8040201008040201UL).AsByte();
        return Vector256.Equals(spread & select, select) & Vector256.Create((byte)0x10);
    }

    /// <summary>32 bytes of 4-bit levels of a 32-element block: low nibbles are elements 0..15, high nibbles 16..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Nibbles32(byte* packed)
    {
        var p = Sse2.LoadVector128(packed);
        var mask = Vector128.Create((byte)0x0F);
        return Vector256.Create(p & mask, Sse2.ShiftRightLogical(p.AsUInt16(), 4).AsByte() & mask);
    }
}

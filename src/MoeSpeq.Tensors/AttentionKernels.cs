using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MoeSpeq.Tensors;

/// <summary>
/// The two inner loops of attention over a KV cache: one query's scores against many keys, and the probability-
/// weighted sum of many values. A head is 32 to 256 floats, so a library dot or axpy per key spends more on its call
/// and its reduction than on the arithmetic; these keep the query (or the output slice) in registers across keys.
/// Both depend only on their inputs, never on how many positions a pass holds, so batched and one-token attention
/// agree bit for bit.
/// </summary>
public static class AttentionKernels
{
    /// <summary>
    /// scores[i] = scale · Σ_d query[d]·keys[i·keyStride + d] for i in [0, scores.Length): keys are rows of a cache
    /// with the row stride <paramref name="keyStride"/> (≥ query.Length).
    /// </summary>
    public static void Scores(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, int keyStride, float scale, Span<float> scores)
    {
        int length = query.Length, count = scores.Length;
        CheckRows(keys.Length, keyStride, length, count, nameof(keys));
        if (!Vector256.IsHardwareAccelerated || length < Vector256<float>.Count)
        {
            ScoresReference(query, keys, keyStride, scale, scores);
            return;
        }
        ref float q = ref MemoryMarshal.GetReference(query);
        ref float k = ref MemoryMarshal.GetReference(keys);
        int vectorEnd = length - length % Vector256<float>.Count;
        int i = 0;
        // Four keys at a time share each query load; each key keeps one accumulator so its sum is the same whether
        // it is dotted here or in the one-key loop below.
        for (; i + 4 <= count; i += 4)
        {
            ref float k0 = ref Unsafe.Add(ref k, (nint)i * keyStride);
            ref float k1 = ref Unsafe.Add(ref k0, keyStride);
            ref float k2 = ref Unsafe.Add(ref k1, keyStride);
            ref float k3 = ref Unsafe.Add(ref k2, keyStride);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int d = 0; d < vectorEnd; d += Vector256<float>.Count)
            {
                var qd = Vector256.LoadUnsafe(ref q, (nuint)d);
                a0 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k0, (nuint)d), a0);
                a1 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k1, (nuint)d), a1);
                a2 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k2, (nuint)d), a2);
                a3 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k3, (nuint)d), a3);
            }
            scores[i] = scale * (Vector256.Sum(a0) + Tail(ref q, ref k0, vectorEnd, length));
            scores[i + 1] = scale * (Vector256.Sum(a1) + Tail(ref q, ref k1, vectorEnd, length));
            scores[i + 2] = scale * (Vector256.Sum(a2) + Tail(ref q, ref k2, vectorEnd, length));
            scores[i + 3] = scale * (Vector256.Sum(a3) + Tail(ref q, ref k3, vectorEnd, length));
        }
        for (; i < count; i++)
        {
            ref float k0 = ref Unsafe.Add(ref k, (nint)i * keyStride);
            Vector256<float> a0 = default;
            for (int d = 0; d < vectorEnd; d += Vector256<float>.Count)
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref q, (nuint)d), Vector256.LoadUnsafe(ref k0, (nuint)d), a0);
            scores[i] = scale * (Vector256.Sum(a0) + Tail(ref q, ref k0, vectorEnd, length));
        }
    }

    /// <summary>
    /// output[d] = Σ_i weights[i]·values[i·valueStride + d] for d in [0, output.Length): values are rows of a cache
    /// with the row stride <paramref name="valueStride"/> (≥ output.Length).
    /// </summary>
    public static void WeightedSum(ReadOnlySpan<float> weights, ReadOnlySpan<float> values, int valueStride, Span<float> output)
    {
        int length = output.Length, count = weights.Length;
        CheckRows(values.Length, valueStride, length, count, nameof(values));
        if (!Vector256.IsHardwareAccelerated || length < Vector256<float>.Count)
        {
            WeightedSumReference(weights, values, valueStride, output);
            return;
        }
        ref float w = ref MemoryMarshal.GetReference(weights);
        ref float v = ref MemoryMarshal.GetReference(values);
        ref float o = ref MemoryMarshal.GetReference(output);
        // Slice by slice of the output, each held in a register across every key, so the output is written once.
        // The last slice overlaps the one before when the length is not a multiple of the vector width; it is
        // recomputed the same way, so the overlapping floats get the same values.
        for (int d = 0; d < length; d += Vector256<float>.Count)
        {
            int at = Math.Min(d, length - Vector256<float>.Count);
            ref float column = ref Unsafe.Add(ref v, at);
            Vector256<float> acc = default;
            for (int i = 0; i < count; i++)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref w, i)), Vector256.LoadUnsafe(ref column, (nuint)((nint)i * valueStride)), acc);
            acc.StoreUnsafe(ref o, (nuint)at);
        }
    }

    /// <summary>Scalar <see cref="Scores"/>: the reference the vector path is tested against.</summary>
    public static void ScoresReference(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, int keyStride, float scale, Span<float> scores)
    {
        CheckRows(keys.Length, keyStride, query.Length, scores.Length, nameof(keys));
        for (int i = 0; i < scores.Length; i++)
        {
            var key = keys.Slice(i * keyStride, query.Length);
            float sum = 0;
            for (int d = 0; d < query.Length; d++) sum = MathF.FusedMultiplyAdd(query[d], key[d], sum);
            scores[i] = scale * sum;
        }
    }

    /// <summary>Scalar <see cref="WeightedSum"/>: the reference the vector path is tested against.</summary>
    public static void WeightedSumReference(ReadOnlySpan<float> weights, ReadOnlySpan<float> values, int valueStride, Span<float> output)
    {
        CheckRows(values.Length, valueStride, output.Length, weights.Length, nameof(values));
        for (int d = 0; d < output.Length; d++)
        {
            float sum = 0;
            for (int i = 0; i < weights.Length; i++) sum = MathF.FusedMultiplyAdd(weights[i], values[i * valueStride + d], sum);
            output[d] = sum;
        }
    }

    static float Tail(ref float q, ref float k, int from, int length)
    {
        float sum = 0;
        for (int d = from; d < length; d++) sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref q, d), Unsafe.Add(ref k, d), sum);
        return sum;
    }

    static void CheckRows(int available, int stride, int length, int count, string name)
    {
        if (stride < length) throw new ArgumentOutOfRangeException(name, $"row stride {stride} is shorter than a row of {length}");
        if (count > 0 && available < (long)(count - 1) * stride + length)
            throw new ArgumentException($"{count} rows of stride {stride} need {(long)(count - 1) * stride + length} floats, {available} given", name);
    }
}

namespace MoeSpeq.Formats;

/// <summary>
/// A tensor whose elements are those of a source tensor in another order, as a converter would have written them:
/// the source's elements (row-major, outermost axis first, as safetensors and numpy order them) are viewed with
/// shape <see cref="ViewShape"/>, axis <see cref="SliceAxis"/> (if any) is narrowed to
/// [<see cref="SliceStart"/>, <see cref="SliceStart"/> + <see cref="SliceLength"/>), and the view's axes are read in
/// <see cref="Order"/>: output[i_0, …, i_n] = view[j] with j[Order[k]] = i_k (+ SliceStart on the sliced axis).
/// </summary>
/// <remarks>
/// It is applied when the tensor is loaded rather than by rewriting the file, so a Hugging Face checkpoint is used in
/// place. Two rearrangements cover the converters' transforms of the supported models: llama's Q/K row permutation
/// for NORM RoPE (view [heads, 2, half, cols], order 0 2 1 3) and DeepSeek's split of kv_b into k_b, transposed per
/// head, and v_b (view [heads, nope + v, rank], one slice each). <see cref="Scatter"/> is the inverse, for writers.
/// Elements are moved whole, so only unblocked types (F32, F16, BF16) can be rearranged.
/// </remarks>
public sealed unsafe class TensorRearrangement
{
    const int MaxRank = 8;

    readonly long[] _stride; // of the view, in elements

    public TensorRearrangement(long[] viewShape, int[] order, int elementSize, int sliceAxis = -1, long sliceStart = 0, long sliceLength = 0)
    {
        if (viewShape.Length is 0 or > MaxRank || order.Length != viewShape.Length)
            throw new ArgumentException($"a view of rank {viewShape.Length} needs 1..{MaxRank} axes and an order of the same length (got {order.Length})");
        if (viewShape.Any(d => d < 0)) throw new ArgumentException($"negative dimension in the view [{string.Join(", ", viewShape)}]");
        if (order.Order().Where((axis, i) => axis != i).Any()) throw new ArgumentException($"order [{string.Join(", ", order)}] is not a permutation of the view's axes");
        if (elementSize is not (1 or 2 or 4 or 8)) throw new ArgumentException($"element size {elementSize}");
        if (sliceAxis >= viewShape.Length || (sliceAxis >= 0 && (sliceStart < 0 || sliceLength < 0 || sliceStart > viewShape[sliceAxis] - sliceLength)))
            throw new ArgumentException($"slice [{sliceStart}, +{sliceLength}) of axis {sliceAxis} lies outside the view [{string.Join(", ", viewShape)}]");
        ViewShape = [.. viewShape];
        Order = [.. order];
        ElementSize = elementSize;
        SliceAxis = sliceAxis;
        SliceStart = sliceAxis >= 0 ? sliceStart : 0;
        SliceLength = sliceAxis >= 0 ? sliceLength : 0;
        _stride = new long[viewShape.Length];
        long n = 1;
        for (int a = viewShape.Length - 1; a >= 0; a--)
        {
            _stride[a] = n;
            n = checked(n * viewShape[a]);
        }
        SourceElements = n;
        OutputShape = [.. order.Select(a => a == SliceAxis ? SliceLength : ViewShape[a])];
        OutputElements = OutputShape.Aggregate(1L, (p, d) => checked(p * d));
    }

    public long[] ViewShape { get; }
    public int[] Order { get; }
    public int ElementSize { get; }
    /// <summary>The narrowed axis of the view, or −1.</summary>
    public int SliceAxis { get; }
    public long SliceStart { get; }
    public long SliceLength { get; }
    /// <summary>The output's shape, row-major (outermost first).</summary>
    public long[] OutputShape { get; }
    public long SourceElements { get; }
    public long OutputElements { get; }
    public long SourceBytes => SourceElements * ElementSize;
    public long OutputBytes => OutputElements * ElementSize;

    /// <summary>Writes the output (<see cref="OutputBytes"/>) from the source's <see cref="SourceBytes"/>.</summary>
    public void Apply(byte* source, byte* destination) => Walk(source, destination, gather: true);

    /// <summary>The inverse: writes the output's elements back where they came from in the source (the rest of the source is untouched).</summary>
    public void Scatter(byte* output, byte* source) => Walk(source, output, gather: false);

    public void Apply(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        CheckLengths(source.Length, destination.Length);
        fixed (byte* s = source)
        fixed (byte* d = destination)
            Apply(s, d);
    }

    public void Scatter(ReadOnlySpan<byte> output, Span<byte> source)
    {
        CheckLengths(source.Length, output.Length);
        fixed (byte* o = output)
        fixed (byte* s = source)
            Scatter(o, s);
    }

    void CheckLengths(long source, long output)
    {
        if (source < SourceBytes || output < OutputBytes)
            throw new ArgumentException($"a rearrangement of {SourceBytes} source bytes into {OutputBytes} needs buffers that large (got {source} and {output})");
    }

    /// <summary>
    /// Visits the output in row-major order with an odometer over all but its innermost axis; the innermost axis is
    /// one block copy when it is contiguous in the source, else a copy per element.
    /// </summary>
    void Walk(byte* source, byte* output, bool gather)
    {
        if (OutputElements == 0) return;
        int rank = Order.Length, inner = rank - 1, size = ElementSize;
        long innerLength = OutputShape[inner], innerStride = _stride[Order[inner]] * size;
        long baseOffset = SliceAxis >= 0 ? SliceStart * _stride[SliceAxis] * size : 0;
        Span<long> index = stackalloc long[rank];
        byte* o = output;
        while (true)
        {
            byte* s = source + baseOffset;
            for (int k = 0; k < inner; k++) s += index[k] * _stride[Order[k]] * size;
            if (innerStride == size)
            {
                long bytes = innerLength * size;
                if (gather) Buffer.MemoryCopy(s, o, bytes, bytes);
                else Buffer.MemoryCopy(o, s, bytes, bytes);
                o += bytes;
            }
            else
            {
                for (long j = 0; j < innerLength; j++, s += innerStride, o += size)
                {
                    if (gather) Buffer.MemoryCopy(s, o, size, size);
                    else Buffer.MemoryCopy(o, s, size, size);
                }
            }
            int axis = inner - 1;
            while (axis >= 0 && ++index[axis] == OutputShape[axis]) index[axis--] = 0;
            if (axis < 0) return;
        }
    }

    public override string ToString() =>
        $"view [{string.Join(", ", ViewShape)}]" + (SliceAxis >= 0 ? $", axis {SliceAxis} from {SliceStart} for {SliceLength}" : "") + $", order [{string.Join(", ", Order)}]";
}

using MoeSpeq.Formats;
using Xunit;

namespace MoeSpeq.Formats.Tests.Safetensors;

/// <summary>Rearrangements against their definition element by element, and scatter as their inverse.</summary>
public class TensorRearrangementTests
{
    static float[] Iota(long n) => [.. Enumerable.Range(0, (int)n).Select(i => (float)i)];

    static byte[] Bytes(float[] v) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray();

    static float[] Floats(byte[] b) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b).ToArray();

    [Theory]
    [InlineData(4, 16, 8)]
    [InlineData(2, 8, 3)]
    [InlineData(1, 2, 1)]
    public void TheRopeRowPermutationInterleavesEachHeadsHalves(int heads, int headDim, int cols)
    {
        var r = new TensorRearrangement([heads, 2, headDim / 2, cols], [0, 2, 1, 3], 4);
        var source = Iota((long)heads * headDim * cols);
        var output = new byte[r.OutputBytes];
        r.Apply(Bytes(source), output);
        var o = Floats(output);
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < headDim / 2; i++)
                for (int s = 0; s < 2; s++)
                    for (int c = 0; c < cols; c++)
                        Assert.Equal(source[((h * headDim) + s * headDim / 2 + i) * cols + c], o[((h * headDim) + 2 * i + s) * cols + c]);
        var back = new byte[r.SourceBytes];
        r.Scatter(output, back);
        Assert.Equal(source, Floats(back));
    }

    [Fact]
    public void SlicesWithATransposeAndTheirComplementRebuildTheSource()
    {
        const int heads = 3, nope = 4, v = 5, rank = 6;
        var k = new TensorRearrangement([heads, nope + v, rank], [0, 2, 1], 4, sliceAxis: 1, sliceStart: 0, sliceLength: nope);
        var vb = new TensorRearrangement([heads, nope + v, rank], [0, 1, 2], 4, sliceAxis: 1, sliceStart: nope, sliceLength: v);
        Assert.Equal([heads, rank, nope], k.OutputShape);
        Assert.Equal([heads, v, rank], vb.OutputShape);
        var source = Iota(heads * (nope + v) * rank);
        var kOut = new byte[k.OutputBytes];
        var vOut = new byte[vb.OutputBytes];
        k.Apply(Bytes(source), kOut);
        vb.Apply(Bytes(source), vOut);
        var kf = Floats(kOut);
        for (int h = 0; h < heads; h++)
            for (int r = 0; r < rank; r++)
                for (int n = 0; n < nope; n++)
                    Assert.Equal(source[(h * (nope + v) + n) * rank + r], kf[(h * rank + r) * nope + n]);
        var rebuilt = new byte[k.SourceBytes];
        k.Scatter(kOut, rebuilt);
        vb.Scatter(vOut, rebuilt);
        Assert.Equal(source, Floats(rebuilt));
    }

    [Theory]
    [InlineData(new long[] { 2, 3 }, new[] { 0, 0 })]
    [InlineData(new long[] { 2, 3 }, new[] { 0 })]
    [InlineData(new long[] { 2, -3 }, new[] { 0, 1 })]
    public void InvalidViewsAreRejected(long[] view, int[] order) =>
        Assert.Throws<ArgumentException>(() => new TensorRearrangement(view, order, 4));

    [Fact]
    public void SlicesOutsideTheViewAreRejected() =>
        Assert.Throws<ArgumentException>(() => new TensorRearrangement([2, 3], [0, 1], 4, sliceAxis: 1, sliceStart: 2, sliceLength: 2));

    [Fact]
    public void BuffersTooSmallAreRejected()
    {
        var r = new TensorRearrangement([2, 3], [1, 0], 2);
        Assert.Throws<ArgumentException>(() => r.Apply(new byte[12], new byte[10]));
    }
}

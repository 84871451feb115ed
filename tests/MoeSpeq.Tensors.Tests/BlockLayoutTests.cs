using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MoeSpeq.Tensors.Quants;
using Xunit;

namespace MoeSpeq.Tensors.Tests;

public class BlockLayoutTests
{
    [Theory]
    [InlineData(typeof(BlockQ4_0), GgmlType.Q4_0)]
    [InlineData(typeof(BlockQ4_1), GgmlType.Q4_1)]
    [InlineData(typeof(BlockQ5_0), GgmlType.Q5_0)]
    [InlineData(typeof(BlockQ5_1), GgmlType.Q5_1)]
    [InlineData(typeof(BlockQ8_0), GgmlType.Q8_0)]
    [InlineData(typeof(BlockQ8_1), GgmlType.Q8_1)]
    [InlineData(typeof(BlockQ2_K), GgmlType.Q2_K)]
    [InlineData(typeof(BlockQ3_K), GgmlType.Q3_K)]
    [InlineData(typeof(BlockQ4_K), GgmlType.Q4_K)]
    [InlineData(typeof(BlockQ5_K), GgmlType.Q5_K)]
    [InlineData(typeof(BlockQ6_K), GgmlType.Q6_K)]
    [InlineData(typeof(BlockQ8_K), GgmlType.Q8_K)]
    [InlineData(typeof(BlockMXFP4), GgmlType.MXFP4)]
    public void StructSizeMatchesGgml(Type block, GgmlType type)
    {
        int expected = GgmlTypeInfo.BlockBytes(type);
        Assert.Equal(expected, Marshal.SizeOf(block));
        int unsafeSize = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(block).Invoke(null, null)!;
        Assert.Equal(expected, unsafeSize);
        Assert.Equal(expected, (int)block.GetField("Bytes")!.GetValue(null)!);
        Assert.Equal(GgmlTypeInfo.BlockSize(type), (int)block.GetField("Elements")!.GetValue(null)!);
    }
}

using Xunit;

namespace MoeSpeq.Tensors.Tests;

public class AttentionKernelsTests
{
    public static TheoryData<int, int> Shapes => new()
    {
        { 1, 1 }, { 7, 5 }, { 8, 4 }, { 32, 9 }, { 64, 17 }, { 80, 3 }, { 100, 12 }, { 128, 33 }, { 256, 8 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ScoresMatchTheReference(int length, int count)
    {
        int stride = length + 3;
        var query = TestData.Weights(length, seed: length);
        var keys = TestData.Weights((count - 1) * stride + length, seed: length + 1);
        var scores = new float[count];
        var reference = new float[count];
        AttentionKernels.Scores(query, keys, stride, 0.125f, scores);
        AttentionKernels.ScoresReference(query, keys, stride, 0.125f, reference);
        for (int i = 0; i < count; i++)
        {
            double absScale = 0;
            for (int d = 0; d < length; d++) absScale += Math.Abs(query[d] * keys[i * stride + d]) * 0.125;
            Tolerance.AssertClose(reference[i], scores[i], absScale, Tolerance.KernelVsReference, $"length {length} key {i} of {count}");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void AKeysScoreDoesNotDependOnTheKeysBesideIt(int length, int count)
    {
        // One-token decoding scores one more key than the last pass did, so keys fall into different groups of four.
        int stride = 2 * length;
        var query = TestData.Weights(length, seed: 3);
        var keys = TestData.Weights((count - 1) * stride + length, seed: 4);
        var all = new float[count];
        AttentionKernels.Scores(query, keys, stride, 0.5f, all);
        for (int i = 0; i < count; i++)
        {
            var one = new float[1];
            AttentionKernels.Scores(query, keys.AsSpan(i * stride, length), stride, 0.5f, one);
            Assert.Equal(all[i], one[0]);
            var prefix = new float[i + 1];
            AttentionKernels.Scores(query, keys.AsSpan(0, i * stride + length), stride, 0.5f, prefix);
            Assert.Equal(all[i], prefix[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void WeightedSumMatchesTheReference(int length, int count)
    {
        int stride = length + 5;
        var weights = TestData.Weights(count, seed: count).Select(Math.Abs).ToArray();
        var values = TestData.Weights((count - 1) * stride + length, seed: count + 7);
        var output = Enumerable.Repeat(float.NaN, length + 2).ToArray();
        var reference = new float[length];
        AttentionKernels.WeightedSum(weights, values, stride, output.AsSpan(0, length));
        AttentionKernels.WeightedSumReference(weights, values, stride, reference);
        for (int d = 0; d < length; d++)
        {
            double absScale = 0;
            for (int i = 0; i < count; i++) absScale += Math.Abs(weights[i] * values[i * stride + d]);
            Tolerance.AssertClose(reference[d], output[d], absScale, Tolerance.KernelVsReference, $"length {length} column {d} of {count} rows");
        }
        Assert.True(float.IsNaN(output[length]) && float.IsNaN(output[length + 1]), "wrote past the output");
    }

    [Fact]
    public void WeightedSumOfNoRowsIsZero()
    {
        var output = Enumerable.Repeat(1f, 40).ToArray();
        AttentionKernels.WeightedSum([], [], 40, output);
        Assert.All(output, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ShortRowsAreRejected()
    {
        var q = new float[16];
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionKernels.Scores(q, new float[64], 8, 1f, new float[2]));
        Assert.Throws<ArgumentException>(() => AttentionKernels.Scores(q, new float[16 + 15], 16, 1f, new float[2]));
        Assert.Throws<ArgumentException>(() => AttentionKernels.WeightedSum(new float[3], new float[2 * 20 + 15], 20, new float[16]));
    }
}

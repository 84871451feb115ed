using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using Xunit;

namespace MoeSpeq.Model.Tests;

public class LayerTests
{
    [Fact]
    public void TopKPicksLargestFirstAndBreaksTiesTowardsTheLowerIndex()
    {
        int[] ids = new int[3];
        Router.TopK([0.1f, 0.5f, 0.2f, 0.5f, 0.9f], ids);
        Assert.Equal([4, 1, 3], ids);
    }

    [Fact]
    public void SoftmaxTopKRenormalisesTheChosenWeights()
    {
        float[] logits = [1f, 3f, 2f, 0f, 3f, -1f];  // two tokens × three experts
        int[] ids = new int[4];
        float[] weights = new float[4];
        Router.SoftmaxTopK(logits, tokens: 2, experts: 3, k: 2, renormalize: true, ids, weights);
        Assert.Equal([1, 2, 1, 0], ids);
        Assert.Equal(1f, weights[0] + weights[1], 6);
        Assert.Equal(1f / (1f + MathF.Exp(-1f)), weights[0], 6);
        Assert.Equal(1f, weights[2] + weights[3], 6);
    }

    [Fact]
    public void GroupingListsEverySlotUnderItsExpertInOrder()
    {
        var grouping = new ExpertGrouping(experts: 4, capacity: 2);
        int[] ids = [2, 0, 0, 3, 2, 1]; // three tokens × k = 2
        grouping.Build(ids, tokens: 3, k: 2);
        Assert.Equal([1, 2], grouping.SlotsOf(0).ToArray());
        Assert.Equal([5], grouping.SlotsOf(1).ToArray());
        Assert.Equal([0, 4], grouping.SlotsOf(2).ToArray());
        Assert.Equal([3], grouping.SlotsOf(3).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => grouping.Build([7, 0], tokens: 1, k: 2));
    }

    [Fact]
    public void RmsNormMatchesItsDefinition()
    {
        float[] x = [1, -2, 3, -4];
        float[] w = [1, 0.5f, 2, 1];
        float[] y = new float[4];
        RmsNorm.Apply(x, w, y, 1e-5f);
        float scale = 1f / MathF.Sqrt((1 + 4 + 9 + 16) / 4f + 1e-5f);
        for (int i = 0; i < 4; i++) Assert.Equal(x[i] * scale * w[i], y[i], 6);
    }

    [Theory]
    [InlineData(RopeMode.Norm)]
    [InlineData(RopeMode.Neox)]
    public void RopePreservesNormsAndRotatesTheRightPairs(RopeMode mode)
    {
        var rope = new Rope(dims: 4, freqBase: 10000, freqScale: 1, mode);
        float[] cos = new float[2], sin = new float[2];
        rope.Angles(3, cos, sin);
        Assert.Equal(MathF.Cos(3), cos[0], 6);
        Assert.Equal(MathF.Cos(3 * 0.01f), cos[1], 5);

        float[] head = [1, 2, 3, 4, 5, 6];   // head width 6, rope over the first 4
        rope.Apply(head, headWidth: 6, cos, sin);
        var (a, b) = mode == RopeMode.Norm ? (0, 1) : (0, 2);
        Assert.Equal(1 * cos[0] - (mode == RopeMode.Norm ? 2 : 3) * sin[0], head[a], 5);
        Assert.Equal(MathF.Sqrt(1 + (b == 1 ? 4 : 9)), MathF.Sqrt(head[a] * head[a] + head[b] * head[b]), 5);
        Assert.Equal([5f, 6f], head[4..]);
    }
}

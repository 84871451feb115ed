using MoeSpeq.Model.Experts;
using MoeSpeq.Model.Layers;
using MoeSpeq.Tensors;
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
    public void TopKSoftmaxSoftmaxesOnlyTheChosenLogits()
    {
        float[] logits = [1f, 3f, 2f, 0f, 3f, -1f, 5f, 0f];  // two tokens × four experts
        int[] ids = new int[4];
        float[] weights = new float[4];
        Router.TopKSoftmax(logits, tokens: 2, experts: 4, k: 2, ids, weights);
        Assert.Equal([1, 2, 2, 0], ids);
        Assert.Equal(1f / (1f + MathF.Exp(-1f)), weights[0], 6);  // e³ / (e³ + e²): the other experts play no part
        Assert.Equal(1f / (1f + MathF.Exp(2f)), weights[3], 6);  // e³ / (e⁵ + e³)
        Assert.Equal([1f, 3f, 2f, 0f, 3f, -1f, 5f, 0f], logits);   // the logits are left as they are
    }

    [Theory]
    [InlineData(0f, 0f, 0f)]
    [InlineData(1f, 2f, 3f / (1 + 0.18231852f))]      // g·σ(1.702g)·(u + 1) with e^−1.702 = 0.18231852
    [InlineData(9f, 2f, 21f / (1 + 6.696e-6f))]       // the gate is capped at 7
    [InlineData(-2f, -9f, 12f / (1 + 30.084196f))]     // the linear unit is clamped to −7: (−6)·(−2)·σ(−3.404)
    [InlineData(-50f, 1f, 0f)]                        // a very negative gate vanishes, no NaN
    public void SwiGluOaiClampsAndGates(float gate, float up, float expected)
    {
        float[] g = [gate];
        SwiGluOai.Apply(g, [up]);
        Assert.Equal(expected, g[0], 5e-6f);
    }

    [Fact]
    public unsafe void ExpertFfnAddsEachExpertsBiasesAroundItsProducts()
    {
        const int dim = 4, ffn = 3;
        var rng = new Random(3);
        float[] Values(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        var gate = GC.AllocateArray<float>(ffn * dim, pinned: true);
        var up = GC.AllocateArray<float>(ffn * dim, pinned: true);
        var down = GC.AllocateArray<float>(dim * ffn, pinned: true);
        Values(ffn * dim).CopyTo(gate, 0);
        Values(ffn * dim).CopyTo(up, 0);
        Values(dim * ffn).CopyTo(down, 0);
        var bias = new ExpertBias(Values(ffn), Values(ffn), Values(dim));
        fixed (float* g = gate, u = up, d = down)
        {
            var plain = new ExpertWeights(new(GgmlType.F32, ffn, dim, (byte*)g), new(GgmlType.F32, ffn, dim, (byte*)u), new(GgmlType.F32, dim, ffn, (byte*)d));
            var biased = plain with { Bias = bias };
            var x = Values(2 * dim);  // rows 0 and 1
            using var pool = new ComputePool(1);
            var ffnOai = new ExpertFfn(new MatMul(pool), dim, ffn, 2, ExpertActivation.SwiGluOai);
            var y = new float[2 * dim];
            // Row 0 through the biased expert, row 1 through the same matrices without biases.
            ffnOai.Compute([biased, plain], [0, 1, 2], x, y);
            for (int r = 0; r < 2; r++)
            {
                var b = r == 0 ? bias : new ExpertBias(new float[ffn], new float[ffn], new float[dim]);
                var h = new float[ffn];
                for (int i = 0; i < ffn; i++)
                {
                    float gi = b.Gate[i], ui = b.Up[i];
                    for (int c = 0; c < dim; c++) { gi += gate[i * dim + c] * x[r * dim + c]; ui += up[i * dim + c] * x[r * dim + c]; }
                    float[] one = [gi];
                    SwiGluOai.Apply(one, [ui]);
                    h[i] = one[0];
                }
                for (int o = 0; o < dim; o++)
                {
                    float expected = b.Down[o];
                    for (int i = 0; i < ffn; i++) expected += down[o * ffn + i] * h[i];
                    Assert.Equal(expected, y[r * dim + o], 1e-5f);
                }
            }
        }
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

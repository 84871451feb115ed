using MoeSpeq.Inference.Sampling;
using Xunit;

namespace MoeSpeq.Inference.Tests.Sampling;

public class SamplerTests
{
    /// <summary>Every filter off, plain softmax at temperature 1.</summary>
    static readonly SamplerOptions Plain = new() { Temperature = 1, TopK = 0, TopP = 1, MinP = 0 };

    static float[] RandomLogits(Random rng, int n, float scale = 4)
    {
        var logits = new float[n];
        for (int i = 0; i < n; i++) logits[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return logits;
    }

    /// <summary>Logits whose softmax is exactly <paramref name="probabilities"/>.</summary>
    static float[] LogitsOf(params double[] probabilities) => probabilities.Select(p => (float)Math.Log(p)).ToArray();

    static float[] DistributionOf(SamplerOptions options, float[] logits, int[]? recent = null)
    {
        var probabilities = new float[logits.Length];
        new Sampler(options).Distribution(logits, recent ?? [], probabilities);
        return probabilities;
    }

    [Fact]
    public void GreedyTakesTheArgmaxWithTiesToTheLowestId()
    {
        var greedy = new Sampler(SamplerOptions.Greedy);
        Assert.Equal(1, greedy.Sample([1, 3, 3, 2], []));
        Assert.Equal(0, greedy.Sample([5, 5, 5], []));
        Assert.Equal(2, greedy.Sample([float.NegativeInfinity, float.NaN, -1e30f, -1e30f], []));
        Assert.Equal(0, greedy.Sample([-0f, 0f, -0f], [])); // -0 and +0 are the same logit
        var probabilities = new float[4];
        greedy.Distribution([1, 3, 3, 2], [], probabilities);
        Assert.Equal([0f, 1f, 0f, 0f], probabilities);
    }

    [Fact]
    public void TiesAtAFilterCutKeepTheLowerIds()
    {
        // Five equal logits, top-k 2: ids 0 and 1 survive, whatever the implementation's sort.
        var p = DistributionOf(Plain with { TopK = 2 }, [1, 1, 1, 1, 1]);
        Assert.Equal([0.5f, 0.5f, 0f, 0f, 0f], p);
    }

    [Fact]
    public void TheSameSeedGivesTheSameSequenceAndADifferentSeedADifferentOne()
    {
        var logits = RandomLogits(new Random(1), 1000, scale: 2);
        int[] Draws(ulong seed)
        {
            var sampler = new Sampler(Plain with { Seed = seed });
            return Enumerable.Range(0, 200).Select(_ => sampler.Sample(logits, [])).ToArray();
        }
        Assert.Equal(Draws(7), Draws(7));
        Assert.NotEqual(Draws(7), Draws(8));
    }

    [Fact]
    public void TheRandomStreamIsPinned()
    {
        // xoshiro256** seeded by splitmix64, transcribed from the authors' C: seeds must keep their meaning.
        var rng = new Xoshiro256StarStar(0);
        Assert.Equal(0x99ec5f36cb75f2b4UL, rng.NextUInt64());
        Assert.Equal(0xbf6e1f784956452aUL, rng.NextUInt64());
        rng = new Xoshiro256StarStar(42);
        Assert.Equal(0x15780b2e0c2ec716UL, rng.NextUInt64());
    }

    [Fact]
    public void TopKOfOneIsGreedy()
    {
        var rng = new Random(2);
        var topOne = new Sampler(new SamplerOptions { Temperature = 1.5f, TopK = 1, TopP = 0.9f, MinP = 0, Seed = 3 });
        var greedy = new Sampler(SamplerOptions.Greedy);
        for (int i = 0; i < 200; i++)
        {
            var logits = RandomLogits(rng, 50);
            logits[rng.Next(50)] = logits.Max(); // a tie with the maximum now and then
            Assert.Equal(greedy.Sample(logits, []), topOne.Sample(logits, []));
        }
    }

    [Fact]
    public void TopKKeepsTheKMostLikely()
    {
        var p = DistributionOf(Plain with { TopK = 2 }, LogitsOf(0.1, 0.4, 0.2, 0.3));
        Assert.Equal([0f, 4 / 7f, 0f, 3 / 7f], p, new ToleranceComparer(1e-6f));
    }

    [Fact]
    public void TopPKeepsTheSmallestNucleusReachingP()
    {
        var logits = LogitsOf(0.5, 0.3, 0.15, 0.05);
        // 0.5 < 0.75, 0.5 + 0.3 ≥ 0.75: the token that crosses p is kept.
        Assert.Equal([0.625f, 0.375f, 0f, 0f], DistributionOf(Plain with { TopP = 0.75f }, logits), new ToleranceComparer(1e-6f));
        // Even a tiny p keeps the most likely token.
        Assert.Equal([1f, 0f, 0f, 0f], DistributionOf(Plain with { TopP = 1e-6f }, logits));
        Assert.Equal([0.5f, 0.3f, 0.15f, 0.05f], DistributionOf(Plain with { TopP = 0.99f }, logits), new ToleranceComparer(1e-6f));
    }

    [Fact]
    public void MinPDropsTokensBelowAFractionOfTheMostLikely()
    {
        var logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        // minP 0.2: threshold 0.1 → 0.05 goes.
        Assert.Equal([0f, 0.5f / 0.95f, 0.15f / 0.95f, 0.3f / 0.95f], DistributionOf(Plain with { MinP = 0.2f }, logits), new ToleranceComparer(1e-6f));
        // minP 0.5: threshold 0.25 → only 0.5 and 0.3 remain.
        Assert.Equal([0f, 0.625f, 0f, 0.375f], DistributionOf(Plain with { MinP = 0.5f }, logits), new ToleranceComparer(1e-6f));
        Assert.Equal([0f, 1f, 0f, 0f], DistributionOf(Plain with { MinP = 1f }, logits));
    }

    [Fact]
    public void TemperatureComesAfterTheFilters()
    {
        // Untempered, top-p 0.75 keeps {0, 1}; a high temperature flattens only what survived.
        var logits = LogitsOf(0.5, 0.3, 0.15, 0.05);
        var p = DistributionOf(Plain with { TopP = 0.75f, Temperature = 2 }, logits);
        double a = Math.Sqrt(0.5), b = Math.Sqrt(0.3);
        Assert.Equal([(float)(a / (a + b)), (float)(b / (a + b)), 0f, 0f], p, new ToleranceComparer(1e-6f));
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOncePerToken()
    {
        var options = Plain with { RepeatPenalty = 2 };
        float[] logits = [2, -1, 1.5f, 0.5f];
        // Token 0 appears twice but is penalised once: [1, -2, 1.5, 0.5].
        var p = DistributionOf(options, logits, [0, 1, 0]);
        var expected = new[] { 1.0, -2.0, 1.5, 0.5 }.Select(Math.Exp).ToArray();
        Assert.Equal(expected.Select(e => (float)(e / expected.Sum())).ToArray(), p, new ToleranceComparer(1e-6f));
        Assert.Equal(2, new Sampler(options with { Temperature = 0 }).Sample(logits, [0, 1, 0]));
        Assert.Equal(0, new Sampler(SamplerOptions.Greedy).Sample(logits, [0, 1, 0]));
    }

    [Fact]
    public void RepetitionPenaltyLooksOnlyAtTheLastN()
    {
        float[] logits = [2, 1.9f, 0];
        var lastOne = new Sampler(SamplerOptions.Greedy with { RepeatPenalty = 2, RepeatLastN = 1 });
        Assert.Equal(0, lastOne.Sample(logits, [0, 1])); // only token 1 is penalised
        Assert.Equal(1, lastOne.Sample(logits, [1, 0]));
        var all = new Sampler(SamplerOptions.Greedy with { RepeatPenalty = 2, RepeatLastN = -1 });
        Assert.Equal(2, all.Sample([2, 1.9f, 1.5f], [0, 1, 1, 1, 1]));
        var none = new Sampler(SamplerOptions.Greedy with { RepeatPenalty = 2, RepeatLastN = 0 });
        Assert.Equal(0, none.Sample(logits, [0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => lastOne.Sample(logits, [3]));
    }

    [Fact]
    public void EmpiricalFrequenciesMatchTheDistribution()
    {
        var logits = RandomLogits(new Random(4), 40, scale: 3);
        var options = new SamplerOptions { Temperature = 0.7f, TopK = 20, TopP = 0.97f, MinP = 0.01f, RepeatPenalty = 1.3f, Seed = 5 };
        int[] recent = [3, 7, 3, 11];
        var expected = DistributionOf(options, logits, recent);
        var sampler = new Sampler(options);
        const int draws = 200_000;
        var counts = new int[logits.Length];
        for (int i = 0; i < draws; i++) counts[sampler.Sample(logits, recent)]++;

        double chiSquare = 0;
        int bins = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (expected[i] == 0)
            {
                Assert.Equal(0, counts[i]); // filtered tokens are never drawn
                continue;
            }
            double e = expected[i] * (double)draws;
            chiSquare += (counts[i] - e) * (counts[i] - e) / e;
            bins++;
        }
        Assert.InRange(bins, 3, 20);
        // χ² has mean df and standard deviation √(2 df); ten deviations above the mean is generous yet catches a wrong distribution.
        int df = bins - 1;
        Assert.True(chiSquare < df + 10 * Math.Sqrt(2 * df), $"χ² = {chiSquare:F1} with {df} degrees of freedom");
    }

    [Fact]
    public void TheChainMatchesAStraightforwardReference()
    {
        // Large vocabularies exercise the partial ranking (heap) and the growing nucleus search.
        var rng = new Random(6);
        foreach (int nVocab in new[] { 1, 2, 7, 300, 5000 })
        {
            for (int trial = 0; trial < 12; trial++)
            {
                var logits = RandomLogits(rng, nVocab, scale: (float)(rng.NextDouble() * 12));
                if (nVocab > 2) logits[rng.Next(nVocab)] = float.NegativeInfinity;
                var options = new SamplerOptions
                {
                    Temperature = rng.Next(5) == 0 ? 0 : (float)(0.2 + rng.NextDouble() * 1.5),
                    TopK = rng.Next(3) == 0 ? 0 : rng.Next(1, nVocab + 5),
                    TopP = rng.Next(3) == 0 ? 1 : (float)(0.05 + rng.NextDouble() * 0.95),
                    MinP = rng.Next(3) == 0 ? 0 : (float)(rng.NextDouble() * 0.3),
                    RepeatPenalty = rng.Next(2) == 0 ? 1 : 1.5f,
                    RepeatLastN = 8,
                };
                var recent = Enumerable.Range(0, 12).Select(_ => rng.Next(nVocab)).ToArray();
                var expected = SamplerReference.Distribution(logits, recent, options);
                var actual = DistributionOf(options, logits, recent);
                Assert.Equal(expected, actual, new ToleranceComparer(2e-6f));
            }
        }
    }

    [Fact]
    public void MaskedAndNonFiniteLogits()
    {
        float ninf = float.NegativeInfinity;
        Assert.Equal([0f, 1f, 0f], DistributionOf(Plain, [ninf, 0, float.NaN]));
        Assert.Equal([0f, 1f, 0f], DistributionOf(Plain, [1e30f, float.PositiveInfinity, 0]));
        Assert.Throws<ArgumentException>(() => new Sampler(Plain).Sample([ninf, float.NaN], []));
        Assert.Throws<ArgumentException>(() => new Sampler(SamplerOptions.Greedy).Sample([ninf, ninf], []));
        Assert.Throws<ArgumentException>(() => new Sampler(Plain).Sample([], []));
    }

    [Fact]
    public void ATinyTemperatureIsNearlyGreedyNotNaN()
    {
        var p = DistributionOf(Plain with { Temperature = float.Epsilon }, [1, 3, 2]);
        Assert.Equal([0f, 1f, 0f], p);
    }

    [Fact]
    public void SampleFromDrawsInProportionToWeights()
    {
        var sampler = new Sampler(Plain with { Seed = 9 });
        var counts = new int[3];
        for (int i = 0; i < 30_000; i++) counts[sampler.SampleFrom([1, 0, 3])]++;
        Assert.Equal(0, counts[1]);
        Assert.InRange(counts[2] / (double)counts[0], 2.7, 3.3);
        Assert.Throws<ArgumentException>(() => sampler.SampleFrom([0, 0]));
        Assert.Throws<ArgumentException>(() => sampler.SampleFrom([1, -1]));
        double u = sampler.NextUniform();
        Assert.InRange(u, 0, 1);
    }

    [Fact]
    public void SteadyStateSamplingAllocatesNothing()
    {
        var logits = RandomLogits(new Random(10), 32_000, scale: 8);
        int[] recent = Enumerable.Range(0, 100).Select(i => i * 37 % 32_000).ToArray();
        var probabilities = new float[logits.Length];
        foreach (var options in new[]
        {
            new SamplerOptions { RepeatPenalty = 1.1f, Seed = 1 },                   // llama.cpp defaults: top-k path
            new SamplerOptions { TopK = 0, TopP = 0.9f, MinP = 0, Seed = 2 },       // nucleus over the whole vocabulary
            new SamplerOptions { TopK = 0, TopP = 1, MinP = 0.05f, Seed = 3 },      // unranked min-p
            SamplerOptions.Greedy with { RepeatPenalty = 1.2f },
        })
        {
            var sampler = new Sampler(options);
            for (int i = 0; i < 3; i++) sampler.Sample(logits, recent); // first use sizes the buffers; JIT tiers settle
            sampler.Distribution(logits, recent, probabilities);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++)
            {
                sampler.Sample(logits, recent);
                sampler.Distribution(logits, recent, probabilities);
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Theory]
    [InlineData(nameof(SamplerOptions.Temperature))]
    [InlineData(nameof(SamplerOptions.TopK))]
    [InlineData(nameof(SamplerOptions.TopP))]
    [InlineData(nameof(SamplerOptions.MinP))]
    [InlineData(nameof(SamplerOptions.RepeatPenalty))]
    [InlineData(nameof(SamplerOptions.RepeatLastN))]
    public void InvalidOptionsAreRejectedByName(string option)
    {
        SamplerOptions[] invalid = option switch
        {
            nameof(SamplerOptions.Temperature) => [new() { Temperature = -0.1f }, new() { Temperature = float.NaN }, new() { Temperature = float.PositiveInfinity }],
            nameof(SamplerOptions.TopK) => [new() { TopK = -1 }],
            nameof(SamplerOptions.TopP) => [new() { TopP = 0 }, new() { TopP = 1.01f }, new() { TopP = -0.5f }, new() { TopP = float.NaN }],
            nameof(SamplerOptions.MinP) => [new() { MinP = -0.01f }, new() { MinP = 1.5f }, new() { MinP = float.NaN }],
            nameof(SamplerOptions.RepeatPenalty) => [new() { RepeatPenalty = 0 }, new() { RepeatPenalty = -1 }, new() { RepeatPenalty = float.NaN }],
            _ => [new() { RepeatLastN = -2 }],
        };
        foreach (var options in invalid)
        {
            var e = Assert.ThrowsAny<ArgumentException>(() => new Sampler(options));
            Assert.Equal(option, e.ParamName);
            Assert.Contains(option, e.Message);
        }
    }

    [Fact]
    public void BoundaryOptionsAreValid()
    {
        new SamplerOptions { Temperature = 0, TopK = 0, TopP = 1, MinP = 0, RepeatPenalty = 1, RepeatLastN = -1 }.Validate();
        new SamplerOptions { TopP = 1e-9f, MinP = 1, RepeatPenalty = 0.5f, RepeatLastN = 0 }.Validate();
        Assert.True(SamplerOptions.Greedy.IsGreedy);
        Assert.Throws<ArgumentNullException>(() => new Sampler(null!));
    }

    sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}

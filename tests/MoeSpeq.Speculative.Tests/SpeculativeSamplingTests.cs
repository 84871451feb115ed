using MoeSpeq.Experts;
using MoeSpeq.Inference;
using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.Tensors;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>
/// Speculative sampling preserves the target's distribution: tokens emitted through draft-and-verify are drawn from
/// exactly the distribution the target's sampler draws from, whatever the draft proposes. Checked with chi-square
/// tests at a 0.1% false-alarm level on fixed seeds (so the tests are deterministic).
/// </summary>
public sealed class SpeculativeSamplingTests
{
    /// <summary>The chi-square value that a χ²(dof) variable exceeds with probability 0.001 (Wilson–Hilferty).</summary>
    static double Critical(int dof)
    {
        const double z = 3.0902; // standard normal quantile of 0.999
        double a = 2.0 / (9 * dof);
        return dof * Math.Pow(1 - a + z * Math.Sqrt(a), 3);
    }

    public static TheoryData<float, int, float, float> Chains() => new()
    {
        { 1.0f, 0, 1.0f, 1.0f },   // plain softmax
        { 0.7f, 5, 0.9f, 1.0f },   // top-k and top-p cut p and q to different supports
        { 1.3f, 0, 1.0f, 1.2f },   // repetition penalty over the prefix
    };

    [Theory]
    [MemberData(nameof(Chains))]
    public void TheFirstEmittedTokenIsDistributedAsTheTargetsSamplerDraws(float temperature, int topK, float topP, float penalty)
    {
        const int vocab = 8, trials = 40_000;
        var random = new Random(7);
        var target = new float[2 * vocab];
        var draft = new float[vocab];
        for (int v = 0; v < vocab; v++)
        {
            target[v] = (float)(random.NextDouble() * 4 - 2);
            draft[v] = (float)(random.NextDouble() * 4 - 2);
        }
        var options = new SamplerOptions { Temperature = temperature, TopK = topK, TopP = topP, MinP = 0, RepeatPenalty = penalty, Seed = 11 };
        int[] prefix = [3, 5];
        var sampler = new Sampler(options);
        var draftSampler = new Sampler(options with { Seed = 12 });
        var verifier = new SpeculativeVerifier(sampler, vocab);
        var p = new float[vocab];
        new Sampler(options).Distribution(target.AsSpan(0, vocab), prefix, p);
        var q = new float[vocab];
        var counts = new int[vocab];
        var sequence = new int[prefix.Length + 1];
        prefix.CopyTo(sequence, 0);
        int accepted = 0;
        for (int t = 0; t < trials; t++)
        {
            draftSampler.Distribution(draft, prefix, q);
            int proposal = draftSampler.Sample(draft, prefix);
            sequence[prefix.Length] = proposal;
            int kept = verifier.Verify(target, sequence, prefix.Length, 1, q, out int next);
            counts[kept == 1 ? proposal : next]++;
            accepted += kept;
        }
        double chi = 0;
        int dof = -1;
        for (int v = 0; v < vocab; v++)
        {
            if (p[v] == 0)
            {
                Assert.Equal(0, counts[v]); // never emits what the target's chain excludes
                continue;
            }
            double expected = p[v] * trials;
            chi += (counts[v] - expected) * (counts[v] - expected) / expected;
            dof++;
        }
        Assert.True(chi < Critical(dof), $"χ² = {chi:F1} over {dof} degrees of freedom (critical {Critical(dof):F1}): emitted tokens are not distributed as p");
        // The draft differs from the target, so some proposals are rejected, and the residual is exercised.
        Assert.InRange(accepted, 1, trials - 1);
    }

    [Fact]
    public void SampledGenerationsWithAndWithoutSpeculationHaveTheSameTokenDistributions()
    {
        const int seeds = 300, length = 3;
        var runtime = new ExpertRuntime(new OffloadOptions(), (_, _) => throw new InvalidOperationException("resident"));
        var builder = new SelfDraftBuilder(GgmlType.Q2_K, 4, runtime);
        using var model = ModelLoader.Load(TestPaths.DemoModel, builder.Attach(runtime.Attach(new ModelOptions { Threads = 2, MaxBatch = 16 })));
        using var draft = builder.Create(model);
        var tokenizer = Tokenizer.FromGguf(model.File.Header);
        int[] prompt = [.. tokenizer.Encode("Returns a value that", addSpecial: true, parseSpecial: true)];
        var plain = new Generator(model, tokenizer, 64);
        var speculative = new Generator(model, tokenizer, 64, new SpeculativeDecoding(draft, new SpeculationOptions { Depth = 2 }, runtime));
        // Temperature above 1 flattens the distribution so that many tokens occur and rejections happen.
        var sampling = new SamplerOptions { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0 };
        var a = Sequences(plain, prompt, sampling, seeds, length, seedOffset: 0);
        var b = Sequences(speculative, prompt, sampling, seeds, length, seedOffset: 1_000_000);
        var stats = runtime.Stats.Speculation.Snapshot();
        Assert.True(stats.Accepted < stats.Cycles * 2, "every draft was accepted: the rejection path was not exercised");
        for (int position = 1; position < length; position++)
            AssertSameDistribution(a.Select(s => s[position]), b.Select(s => s[position]), $"token {position + 1}");
    }

    static List<int[]> Sequences(Generator generator, int[] prompt, SamplerOptions sampling, int count, int length, int seedOffset)
    {
        var all = new List<int[]>();
        for (int s = 0; s < count; s++)
        {
            var ids = new List<int>();
            generator.GenerateTokens(prompt, length, sampling with { Seed = (ulong)(s + seedOffset) }, ids.Add);
            while (ids.Count < length) ids.Add(-1); // an early end of generation is an outcome of its own
            all.Add([.. ids]);
        }
        return all;
    }

    /// <summary>Two-sample chi-square test of homogeneity; categories rarer than 5 expected per sample are pooled.</summary>
    static void AssertSameDistribution(IEnumerable<int> first, IEnumerable<int> second, string what)
    {
        var a = first.GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        var b = second.GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        int na = a.Values.Sum(), nb = b.Values.Sum();
        var categories = a.Keys.Union(b.Keys).ToList();
        double chi = 0, pooledA = 0, pooledB = 0;
        int dof = -1;
        foreach (int c in categories)
        {
            double ca = a.GetValueOrDefault(c), cb = b.GetValueOrDefault(c);
            if ((ca + cb) / 2 < 5)
            {
                pooledA += ca;
                pooledB += cb;
                continue;
            }
            chi += Term(ca, cb, na, nb);
            dof++;
        }
        if (pooledA + pooledB > 0)
        {
            chi += Term(pooledA, pooledB, na, nb);
            dof++;
        }
        Assert.True(dof >= 1, $"{what}: too few distinct outcomes to compare");
        Assert.True(chi < Critical(dof), $"{what}: χ² = {chi:F1} over {dof} degrees of freedom (critical {Critical(dof):F1})");
    }

    static double Term(double ca, double cb, int na, int nb)
    {
        double total = ca + cb;
        double ea = total * na / (na + nb), eb = total * nb / (na + nb);
        return (ca - ea) * (ca - ea) / ea + (cb - eb) * (cb - eb) / eb;
    }
}

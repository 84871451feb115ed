using MoeSpeq.Experts.Prediction;
using MoeSpeq.Model.Experts;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>The token-to-expert statistics: learning, fallback, decay, bounded memory, the ELB and prefetch path.</summary>
public sealed class TokenExpertPredictorTests
{
    // Three layers, the first dense; 8 experts, top-2.
    static TokenExpertPredictor Create(TokenExpertPredictorOptions? options = null, int vocab = 100) =>
        new(vocab, layers: 3, moeLayers: [1, 2], experts: 8, expertsUsed: 2, options);

    static (int[] Ids, float[] Confidence) Predict(TokenExpertPredictor p, int token, int layer, int width = 2)
    {
        var ids = new int[width];
        var confidence = new float[width];
        int n = p.Predict(token, layer, ids, confidence);
        return (ids[..n], confidence[..n]);
    }

    [Fact]
    public void AfterObservingARoutingItPredictsThoseExpertsForThatToken()
    {
        var p = Create();
        p.Observe(5, 1, [3, 6]);
        p.Observe(5, 2, [0, 7]);

        var (ids, confidence) = Predict(p, 5, 1);
        Assert.Equal([3, 6], ids.Order());
        Assert.All(confidence, c => Assert.Equal(1f, c));
        Assert.Equal([0, 7], Predict(p, 5, 2).Ids.Order());
        Assert.Empty(Predict(p, 5, 0).Ids); // a dense layer routes nothing
    }

    [Fact]
    public void TheMostFrequentExpertsOfATokenComeFirstWithTheirShareAsConfidence()
    {
        var p = Create(new TokenExpertPredictorOptions { Decay = 1 });
        for (int i = 0; i < 3; i++) p.Observe(5, 1, [3, 6]);
        p.Observe(5, 1, [3, 1]);

        var (ids, confidence) = Predict(p, 5, 1, width: 3);
        Assert.Equal([3, 6, 1], ids);
        Assert.Equal([1f, 0.75f, 0.25f], confidence);
    }

    [Fact]
    public void UnseenTokensFallBackToTheLayersMostFrequentExperts()
    {
        var p = Create(new TokenExpertPredictorOptions { Decay = 1 });
        p.Observe(1, 1, [2, 4]);
        p.Observe(2, 1, [4, 5]);
        p.Observe(3, 1, [4, 2]);

        var (ids, confidence) = Predict(p, 50, 1);
        Assert.Equal([4, 2], ids);
        Assert.Equal(1f, confidence[0]);
        Assert.Equal(2f / 3, confidence[1], 1e-6f);

        // A seen token asked for more than it has: its own experts, then frequent ones it does not repeat.
        Assert.Equal([4, 5, 2], Predict(p, 2, 1, width: 3).Ids);
        // A layer never observed predicts nothing rather than guessing.
        Assert.Empty(Predict(p, 50, 2).Ids);
    }

    [Fact]
    public void RecentRoutingOutweighsOldUnderDecay()
    {
        var p = Create(new TokenExpertPredictorOptions { Decay = 0.5 });
        for (int i = 0; i < 20; i++) p.Observe(9, 1, [0, 1]);
        p.Observe(9, 1, [2, 3]);
        p.Observe(9, 1, [2, 3]);
        Assert.Equal([2, 3], Predict(p, 9, 1).Ids.Order());
    }

    [Fact]
    public void CountsStayFiniteOverLongRunsUnderStrongDecay()
    {
        var p = Create(new TokenExpertPredictorOptions { Decay = 0.5 });
        for (int i = 0; i < 10_000; i++) p.Observe(i % 7, 1, [i % 8, (i + 1) % 8]);
        var (ids, confidence) = Predict(p, 6, 1);
        Assert.Equal(2, ids.Length);
        Assert.All(confidence, c => Assert.True(float.IsFinite(c) && c > 0 && c <= 1));
        // The last observation of token 6 dominates at this decay.
        int last = Enumerable.Range(0, 10_000).Last(i => i % 7 == 6);
        Assert.Equal(new[] { last % 8, (last + 1) % 8 }.Order(), ids.Order());
    }

    [Fact]
    public void AFullTokenRowReplacesItsWeakestEntry()
    {
        var p = Create(new TokenExpertPredictorOptions { Decay = 1, EntriesPerToken = 3 });
        for (int i = 0; i < 5; i++) p.Observe(4, 1, [0, 1]);
        p.Observe(4, 1, [0, 5]); // row: 0 ×6, 1 ×5, 5 ×1 (full)
        p.Observe(4, 1, [1, 6]); // 6 takes the place of 5, the weakest

        var (ids, confidence) = Predict(p, 4, 1, width: 3);
        Assert.Equal([0, 1, 6], ids);
        // The total still counts the evicted expert's occurrence: 7 observations.
        Assert.Equal([6f / 7, 6f / 7, 1f / 7], confidence);
    }

    [Fact]
    public void MemoryIsBoundedAndRecentTokensKeepTheirRows()
    {
        var options = new TokenExpertPredictorOptions { MaxBytes = 1500, Decay = 1 };
        var p = Create(options, vocab: 200);
        Assert.InRange(p.TokenCapacity, 1, 199);
        Assert.True(p.Bytes <= options.MaxBytes, $"{p.Bytes} bytes for a budget of {options.MaxBytes}");
        long bytes = p.Bytes;
        for (int t = 0; t < 200; t++) p.Observe(t, 1, [t % 8, (t + 3) % 8]);
        Assert.Equal(p.TokenCapacity, p.TrackedTokens);
        Assert.Equal(bytes, p.Bytes);

        // The last token observed has its own row; the first was evicted and falls back to the layer's most frequent
        // experts: every expert was chosen 50 times of 200, so the lowest ids, at a confidence of 1/4.
        Assert.Equal(new[] { 199 % 8, (199 + 3) % 8 }.Order(), Predict(p, 199, 1).Ids.Order());
        var (ids, confidence) = Predict(p, 0, 1);
        Assert.Equal([0, 1], ids);
        Assert.Equal([0.25f, 0.25f], confidence);
    }

    [Fact]
    public void TheVocabularyFitsWhenTheBudgetAllows()
    {
        var p = Create(vocab: 100);
        Assert.Equal(100, p.TokenCapacity);
        Assert.Equal(4, p.EntriesPerToken);
    }

    [Fact]
    public void AForecastFillsTheLookaheadBufferAndTheSink()
    {
        var p = Create();
        p.Observe(5, 1, [3, 6]);
        p.Observe(5, 2, [1, 2]);
        p.Observe(8, 2, [4, 2]);
        var elb = new ExpertLookaheadBuffer(4, 3, 8, 2);
        var sink = new RecordingSink();

        p.Predict(5, 1, elb, sink);
        p.Predict(99, 2, elb, sink); // unseen: layer 1 falls back to 3 and 6, layer 2 to 2 then 1
        Assert.Equal(2, elb.Depth);
        Assert.False(elb.Has(1, 0));
        Assert.Equal([3, 6], elb.Experts(1, 1).ToArray().Order());
        Assert.Equal([1, 2], elb.Experts(1, 2).ToArray().Order());
        Assert.Equal(2, elb.Experts(2, 2)[0]);
        Assert.Equal(8, sink.Keys.Count);
        Assert.Contains(new ExpertKey(1, 3), sink.Keys);
        Assert.All(sink.Confidence, c => Assert.InRange(c, 0f, 1f));
    }

    [Fact]
    public void ObservingAndPredictingAllocateNothing()
    {
        var p = Create();
        var elb = new ExpertLookaheadBuffer(4, 3, 8, 2);
        var sink = new RecordingSink(record: false);
        int[] ids = [1, 2];
        void Work()
        {
            for (int i = 0; i < 1000; i++)
            {
                ids[0] = i % 8;
                ids[1] = (i + 5) % 8;
                p.Observe(i % 100, 1 + i % 2, ids);
                p.Predict((i * 7) % 100, 1 + i % 4, elb, sink);
            }
        }
        Work();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Work();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(new TokenExpertPredictorOptions { EntriesPerToken = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(new TokenExpertPredictorOptions { Decay = 0 }));
        var p = Create();
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Observe(100, 1, [0, 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Observe(0, 3, [0, 1]));
    }

    sealed class RecordingSink(bool record = true) : IPrefetchSink
    {
        public List<ExpertKey> Keys { get; } = [];
        public List<float> Confidence { get; } = [];

        public void Predict(ExpertKey key, int layersAhead, float confidence)
        {
            if (!record) return;
            Keys.Add(key);
            Confidence.Add(confidence);
        }
    }
}

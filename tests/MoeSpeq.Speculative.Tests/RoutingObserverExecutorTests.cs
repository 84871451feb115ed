using MoeSpeq.Experts;
using MoeSpeq.Model.Experts;
using Xunit;

namespace MoeSpeq.Speculative.Tests;

/// <summary>The routing observer: pass-through, which rows are learned under which token, chunked and pending rows.</summary>
public sealed class RoutingObserverExecutorTests
{
    const int Layers = 3, Experts = 8, K = 2, Dim = 4;
    static readonly int[] MoeLayers = [1, 2];

    readonly FakeExecutor _inner = new();
    readonly TokenExpertPredictor _predictor = new(100, Layers, MoeLayers, Experts, K, new TokenExpertPredictorOptions { Decay = 1 });
    readonly ExpertLookaheadBuffer _elb = new(4, Layers, Experts, K);
    readonly SpeculationStats _stats = new();
    readonly RoutingObserverExecutor _observer;

    public RoutingObserverExecutorTests() => _observer = new RoutingObserverExecutor(_inner, _predictor, _elb, _stats, pendingCapacity: 8);

    /// <summary>Routing of a row: layer 1 sends token t to experts (t, t+1) mod 8, layer 2 to (t+2, t+3) mod 8.</summary>
    static void RoutingOf(int token, int layer, Span<int> ids)
    {
        int first = layer == 1 ? token : token + 2;
        ids[0] = first % Experts;
        ids[1] = (first + 1) % Experts;
    }

    /// <summary>A target pass over <paramref name="tokens"/> in chunks of <paramref name="batch"/>, as a model calls its executor.</summary>
    void Pass(ReadOnlySpan<int> tokens, int batch = 16)
    {
        var ids = new int[batch * K];
        var weights = new float[batch * K];
        var hidden = new float[batch * Dim];
        var output = new float[batch * Dim];
        for (int start = 0; start < tokens.Length; start += batch)
        {
            int n = Math.Min(batch, tokens.Length - start);
            foreach (int layer in MoeLayers)
            {
                for (int r = 0; r < n; r++) RoutingOf(tokens[start + r], layer, ids.AsSpan(r * K, K));
                _observer.Forward(layer, hidden.AsSpan(0, n * Dim), hidden.AsSpan(0, n * Dim), ids.AsSpan(0, n * K), weights.AsSpan(0, n * K), n, K, output.AsSpan(0, n * Dim));
            }
        }
    }

    bool Learned(int token)
    {
        Span<int> expected = stackalloc int[K];
        Span<int> ids = stackalloc int[K];
        Span<float> confidence = stackalloc float[K];
        foreach (int layer in MoeLayers)
        {
            RoutingOf(token, layer, expected);
            if (_predictor.Predict(token, layer, ids, confidence) != K || confidence[0] != 1f) return false;
            ids.Sort();
            expected.Sort();
            if (!ids.SequenceEqual(expected)) return false;
        }
        return true;
    }

    [Fact]
    public void EverythingIsForwardedToTheInnerExecutor()
    {
        _observer.OnSequenceStart();
        Pass([5, 6, 7]);
        Assert.Equal(1, _inner.SequenceStarts);
        Assert.Equal(2, _inner.Forwards);
        Assert.Equal([1, 2], _inner.LayersSeen);

        using var cancel = new CancellationTokenSource();
        _observer.Observe(cancel.Token);
        Assert.Equal(cancel.Token, _inner.Observed);
        _observer.EndObserving();
        Assert.Equal(1, _inner.EndedObserving);
        _observer.Dispose();
        Assert.True(_inner.Disposed);
    }

    [Fact]
    public void AnnouncedTokensAreLearnedAtOnceAndTheRestWhenTheKeptSequenceIsKnown()
    {
        // A verification from position 3: the draft gave tokens 10, 11, 12; the last draft (13) it never saw.
        _observer.ExpectPass(3, [10, 11, 12]);
        Pass([10, 11, 12, 13]);
        Assert.True(Learned(10) && Learned(11) && Learned(12));
        Assert.False(Learned(13));
        Assert.Equal(1, _observer.PendingRows);

        // All four kept: position 6 holds 13.
        _observer.Resolve([1, 2, 3, 10, 11, 12, 13]);
        Assert.True(Learned(13));
        Assert.Equal(0, _observer.PendingRows);
    }

    [Fact]
    public void RowsPastTheKeptLengthAreDropped()
    {
        _observer.ExpectPass(3, [10]);
        Pass([10, 11]);
        _observer.Resolve([1, 2, 3, 10]); // the draft 11 at position 4 was rejected
        Assert.False(Learned(11));
        Assert.Equal(0, _observer.PendingRows);

        // The target's own token 60 at position 4 is verified next: only its routing is filed under it.
        _observer.ExpectPass(4, [60]);
        Pass([60]);
        _observer.Resolve([1, 2, 3, 10, 60]);
        Assert.True(Learned(60));
    }

    [Fact]
    public void ThePrefillIsLearnedAcrossChunksOnceItsTokensAreKnown()
    {
        int[] prompt = [20, 21, 22, 23, 24];
        _observer.OnSequenceStart();
        Pass(prompt, batch: 2); // chunks of 2, 2, 1
        Assert.Equal(5, _observer.PendingRows);
        Assert.False(Learned(20));
        _observer.Resolve(prompt);
        Assert.All(prompt, t => Assert.True(Learned(t)));
    }

    [Fact]
    public void AnAnnouncedPassSplitIntoChunksFindsEachRowsToken()
    {
        int[] tokens = [30, 31, 32, 33, 34];
        _observer.ExpectPass(0, tokens);
        Pass(tokens, batch: 2);
        Assert.All(tokens, t => Assert.True(Learned(t)));
        Assert.Equal(0, _observer.PendingRows);
    }

    [Fact]
    public void AReevaluatedPositionSupersedesTheRowHeldForIt()
    {
        _observer.ExpectPass(2, []);
        Pass([40]);             // position 2, token unknown
        _observer.ExpectPass(2, [41]);
        Pass([41]);             // position 2 again, now known: 41
        _observer.Resolve([0, 0, 41]);
        Assert.True(Learned(41));
        Assert.False(Learned(40));
    }

    [Fact]
    public void WithoutAnAnnouncementNothingIsLearned()
    {
        _observer.EndObserving();
        Pass([50, 51]);
        _observer.Resolve([50, 51]);
        Assert.False(Learned(50) || Learned(51));
    }

    [Fact]
    public void TheVerificationIsScoredAgainstTheLookaheadBuffer()
    {
        _elb.Record(1, 1, [10 % Experts, 11 % Experts], [0.5f, 0.5f]); // right for token 10 at layer 1
        _elb.Record(1, 2, [0, 1], [0.5f, 0.5f]);                        // wrong at layer 2 (4, 5)
        _observer.ExpectPass(0, [10]);
        Pass([10, 11]);
        var s = _stats.Snapshot();
        Assert.Equal(0.5, s.ExpertMatch);    // 2 of 2 at layer 1, 0 of 2 at layer 2
        Assert.Equal(0.5, s.LookaheadPrecision);
    }

    [Fact]
    public void ObservingAllocatesNothing()
    {
        int[] tokens = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var ids = new int[tokens.Length * K];
        var weights = new float[tokens.Length * K];
        var hidden = new float[tokens.Length * Dim];
        var output = new float[tokens.Length * Dim];
        for (int r = 0; r < tokens.Length; r++) RoutingOf(tokens[r], 1, ids.AsSpan(r * K, K));
        void Cycle()
        {
            _observer.ExpectPass(3, tokens.AsSpan(0, 8));
            foreach (int layer in MoeLayers) _observer.Forward(layer, hidden, hidden, ids, weights, tokens.Length, K, output);
            _observer.Resolve(tokens);
        }
        Cycle();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Cycle();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    sealed class FakeExecutor : IExpertExecutor, ICancellableExpertExecutor, IDisposable
    {
        public int Forwards, SequenceStarts, EndedObserving;
        public List<int> LayersSeen { get; } = new(16);
        public CancellationToken Observed;
        public bool Disposed;

        public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output)
        {
            Forwards++;
            if (LayersSeen.Count < 16) LayersSeen.Add(layer);
        }

        public void OnSequenceStart() => SequenceStarts++;
        public void Observe(CancellationToken cancel) => Observed = cancel;
        public void EndObserving() => EndedObserving++;
        public void Dispose() => Disposed = true;
    }
}

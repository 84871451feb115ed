using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests.Tracing;

public sealed class ExpertTraceTests
{
    static readonly string Model = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");

    [Fact]
    public void ATraceRecordsEveryTokenAndLayerAndDoesNotChangeTheLogits()
    {
        var resident = new ExpertRuntime(new OffloadOptions { RecordTrace = true }, (_, _) => throw new InvalidOperationException("resident"));
        float[] traced, plain;
        using (var model = ModelLoader.Load(Model, resident.Attach(new ModelOptions { Threads = 2 })))
            traced = Logits(model);
        using (var model = ModelLoader.Load(Model, new ModelOptions { Threads = 2 }))
            plain = Logits(model);
        Assert.Equal(plain, traced);

        var trace = resident.FinishTrace()!;
        Assert.Equal(TraceRecording.Prompt.Length + 3, trace.TokenCount);
        Assert.Equal(4, trace.Steps.Count);                 // one prefill, three decode steps
        Assert.True(trace.Steps[0].SequenceStart);
        Assert.Equal(TraceRecording.Prompt.Length, trace.Steps[0].Tokens);
        Assert.All(trace.Steps.Skip(1), s => Assert.True(s.IsDecode && !s.SequenceStart));
        Assert.All(trace.Steps, s => Assert.True(s.ComputeSeconds > 0));
        var shape = trace.Shape;
        for (int t = 0; t < trace.TokenCount; t++)
            for (int m = 0; m < shape.MoeLayerCount; m++)
            {
                var ids = trace.Ids(t, m);
                Assert.Equal(shape.K, ids.ToArray().Distinct().Count());
                Assert.Equal(1f, trace.Weights(t, m).ToArray().Sum(), 1e-5f);
                var probs = trace.Probabilities(t, m);
                Assert.Equal(1f, probs.ToArray().Sum(), 1e-4f);
                // The recorded distribution's top-k is the choice the model made.
                var top = new int[shape.K];
                MoeSpeq.Model.Layers.Router.TopK(probs, top);
                Assert.Equal(ids.ToArray().Order(), top.Order());
                var ahead = trace.Lookahead(t, m, 1);
                Assert.Equal(m + 1 >= shape.MoeLayerCount, float.IsNaN(ahead[0]));
            }
    }

    static float[] Logits(LanguageModel model)
    {
        int vocab = model.Config.VocabSize;
        var state = model.CreateState(32);
        var all = new List<float>();
        var logits = new float[vocab];
        model.Evaluate(state, TraceRecording.Prompt, logits, allLogits: false);
        all.AddRange(logits);
        for (int i = 0; i < 3; i++)
        {
            model.Evaluate(state, [System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits)], logits, allLogits: false);
            all.AddRange(logits);
        }
        return [.. all];
    }

    [Fact]
    public void ASavedTraceLoadsBackUnchanged()
    {
        var trace = TraceRecording.Trace(TraceRecording.Record(Model, new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("50%") }, decode: 4));
        Assert.True(trace.LinkBytesPerSecond > 0, "an offloaded run's trace carries the measured link bandwidth");
        var stream = new MemoryStream();
        trace.Save(stream);
        stream.Position = 0;
        var back = ExpertTrace.Load(stream);
        Assert.Equal(trace.Shape with { MoeLayers = [] }, back.Shape with { MoeLayers = [] });
        Assert.Equal(trace.Shape.MoeLayers, back.Shape.MoeLayers);
        Assert.Equal(trace.Steps, back.Steps);
        Assert.Equal(trace.LinkBytesPerSecond, back.LinkBytesPerSecond);
        for (int t = 0; t < trace.TokenCount; t++)
            for (int m = 0; m < trace.Shape.MoeLayerCount; m++)
            {
                Assert.Equal(trace.Ids(t, m).ToArray(), back.Ids(t, m).ToArray());
                Assert.Equal(trace.Weights(t, m).ToArray(), back.Weights(t, m).ToArray());
                Assert.Equal(trace.Probabilities(t, m).ToArray(), back.Probabilities(t, m).ToArray());
                Assert.Equal(trace.Lookahead(t, m, 2).ToArray(), back.Lookahead(t, m, 2).ToArray());
            }
    }

    [Fact]
    public void TruncatedOrCorruptTracesAreTypedErrorsNeverCrashes()
    {
        var trace = TraceRecording.Trace(TraceRecording.Record(Model, new OffloadOptions { SlowTier = "test", Budget = ExpertBudget.Parse("50%") }, decode: 2));
        var stream = new MemoryStream();
        trace.Save(stream);
        byte[] good = stream.ToArray();

        foreach (int cut in new[] { 0, 3, 8, 20, 40, good.Length / 2, good.Length - 1 })
            Assert.Throws<InvalidDataException>(() => ExpertTrace.Load(new MemoryStream(good[..cut])));
        Assert.Throws<InvalidDataException>(() => ExpertTrace.Load(new MemoryStream([.. good, 0])));

        // Mutations of the header and the first rows: each loads or fails with the typed error, nothing else.
        var rng = new Random(7);
        int header = Math.Min(good.Length, 400);
        for (int i = 0; i < 3000; i++)
        {
            var bad = (byte[])good.Clone();
            for (int j = rng.Next(1, 4); j > 0; j--) bad[rng.Next(header)] = (byte)rng.Next(256);
            try { ExpertTrace.Load(new MemoryStream(bad)); }
            catch (InvalidDataException) { }
        }
    }
}

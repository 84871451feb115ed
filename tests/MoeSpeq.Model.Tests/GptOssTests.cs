using MoeSpeq.Formats.Gguf;
using MoeSpeq.TestSupport;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>The gpt-oss architecture against llama.cpp's golden files, and the properties its forward pass must keep.</summary>
public class GptOssTests
{
    public static TheoryData<string> Models => new("gpt-oss", "gpt-oss-mxfp4");

    [Theory]
    [MemberData(nameof(Models))]
    public void PromptLogitsMatchLlamaCpp(string name) => GoldenLogitsTests.AssertPromptLogitsMatch(name);

    /// <summary>Batch invariance, with sliding-window layers among the full ones: what speculative verification relies on.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void OneTokenAtATimeMatchesTheBatchedPassExactly(string name)
    {
        var path = TestPaths.Golden(name + ".gguf");
        int[] tokens = [32013, 546, 3383, 10186, 267, 2652, 521, 12084, 851, 254, 24656, 5014];
        using var model = ModelLoader.Load(path, new ModelOptions { Threads = 2 });
        int vocab = model.Config.VocabSize;
        var batched = new float[tokens.Length * vocab];
        model.Evaluate(model.CreateState(64), tokens, batched, allLogits: true);
        var stepped = new float[batched.Length];
        var state = model.CreateState(64);
        for (int t = 0; t < tokens.Length; t++) model.Evaluate(state, tokens.AsSpan(t, 1), stepped.AsSpan(t * vocab, vocab), allLogits: false);
        Assert.Equal(batched, stepped);
    }

    [Fact]
    public void DecodeStepAllocatesNothing()
    {
        using var model = ModelLoader.Load(TestPaths.Golden("gpt-oss-mxfp4.gguf"), new ModelOptions { Threads = 2 });
        var state = model.CreateState(64);
        var logits = new float[model.Config.VocabSize];
        int[] token = [546];
        for (int i = 0; i < 8; i++) model.Evaluate(state, token, logits, allLogits: false);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 16; i++) model.Evaluate(state, token, logits, allLogits: false);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>
    /// llama-quantize wrote the MXFP4 experts of gpt-oss-mxfp4.gguf from the F32 experts of gpt-oss.gguf: our reference
    /// quantizer must write the same bytes.
    /// </summary>
    [Fact]
    public void Mxfp4ExpertsAreWhatOurQuantizerWritesFromTheF32Model()
    {
        using var f32 = GgufFile.Open(TestPaths.Golden("gpt-oss.gguf"));
        using var mxfp4 = GgufFile.Open(TestPaths.Golden("gpt-oss-mxfp4.gguf"));
        var quantized = mxfp4.Header.Tensors.Where(t => t.Type == GgmlType.MXFP4).ToArray();
        Assert.NotEmpty(quantized);
        foreach (var q in quantized)
        {
            var source = f32.Header.FindTensor(q.Name)!;
            Assert.Equal(GgmlType.F32, source.Type);
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f32.TensorBytes(source));
            var ours = new byte[q.ByteSize];
            Quantize.Row(GgmlType.MXFP4, values, ours);
            Assert.True(mxfp4.TensorBytes(q).SequenceEqual(ours), $"{q.Name}: our MXFP4 bytes differ from llama-quantize's");
        }
    }
}

using MoeSpeq.Inference.Sampling;
using MoeSpeq.Inference.Tokenization;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Inference.Tests;

public sealed class GeneratorTests : IDisposable
{
    readonly LanguageModel _model = ModelLoader.Load(TestPaths.DemoModel, new ModelOptions { Threads = 2 });
    readonly Tokenizer _tokenizer;

    public GeneratorTests() => _tokenizer = Tokenizer.FromGguf(_model.File.Header);

    public void Dispose() => _model.Dispose();

    string Generate(string prompt, int n, SamplerOptions sampling, out GenerationResult result)
    {
        var text = new System.Text.StringBuilder();
        result = new Generator(_model, _tokenizer, 256).Generate(prompt, n, sampling, piece => text.Append(piece), TestContext.Current.CancellationToken);
        return text.ToString();
    }

    [Fact]
    public void GreedyGenerationFollowsTheArgmaxOfEachStep()
    {
        string text = Generate("Returns a value that indicates", 12, SamplerOptions.Greedy, out var result);
        Assert.Equal(12, result.GeneratedTokens);

        // The same continuation by hand: argmax after the prompt, then one token at a time.
        var ids = _tokenizer.Encode("Returns a value that indicates", addSpecial: true).ToList();
        var state = _model.CreateState(256);
        var logits = new float[_model.Config.VocabSize];
        _model.Evaluate(state, ids.ToArray(), logits, allLogits: false);
        var generated = new List<int>();
        for (int i = 0; i < 12; i++)
        {
            int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
            generated.Add(next);
            _model.Evaluate(state, [next], logits, allLogits: false);
        }
        string expected = _tokenizer.Decode([.. ids, .. generated]);
        Assert.Equal(expected, "Returns a value that indicates" + text);
        Assert.StartsWith(" ", text);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        var sampling = new SamplerOptions { Seed = 1234 };
        string a = Generate("The following options", 24, sampling, out _);
        string b = Generate("The following options", 24, sampling, out _);
        string c = Generate("The following options", 24, sampling with { Seed = 99 }, out _);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void AnEmptyPromptStartsFromBos()
    {
        string text = Generate("", 8, SamplerOptions.Greedy, out var result);
        Assert.Equal(1, result.PromptTokens);
        Assert.False(string.IsNullOrWhiteSpace(text));
    }

    [Fact]
    public void GenerationStopsWhenTheContextIsFull()
    {
        var text = new System.Text.StringBuilder();
        var result = new Generator(_model, _tokenizer, 16).Generate("Returns a value", 100, SamplerOptions.Greedy, piece => text.Append(piece), TestContext.Current.CancellationToken);
        Assert.Equal(StopReason.ContextFull, result.Stop);
        Assert.Equal(16, result.PromptTokens + result.GeneratedTokens);
    }

    [Fact]
    public void CancellationEndsGeneration()
    {
        using var cancel = new CancellationTokenSource();
        int pieces = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new Generator(_model, _tokenizer, 256).Generate("Returns", 100, SamplerOptions.Greedy, _ => { if (++pieces == 3) cancel.Cancel(); }, cancel.Token));
        Assert.Equal(3, pieces);
    }
}

using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

/// <summary>Loading matrices into anonymous memory changes where they are read from, never what a model computes.</summary>
public sealed class WeightPlacementTests
{
    [Fact]
    public void LoadedAndMappedWeightsGiveIdenticalLogits()
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        int[] tokens = [1, 450, 4996, 17354, 1701, 29889];
        using var loaded = ModelLoader.Load(path, new ModelOptions { Threads = 2, Placement = WeightPlacement.Load });
        using var mapped = ModelLoader.Load(path, new ModelOptions { Threads = 2, Placement = WeightPlacement.Map });

        Assert.Equal(WeightPlacement.Load, loaded.Weights.Placement);
        long matrixBytes = loaded.File.Header.Tensors.Where(t => t.Dimensions.Length >= 2).Sum(t => t.ByteSize);
        Assert.InRange(loaded.Weights.LoadedBytes, matrixBytes, matrixBytes + 64L * loaded.File.Header.Tensors.Count);
        Assert.Equal(0, mapped.Weights.LoadedBytes);

        var a = new float[tokens.Length * loaded.Config.VocabSize];
        var b = new float[a.Length];
        loaded.Evaluate(loaded.CreateState(32), tokens, a, allLogits: true);
        mapped.Evaluate(mapped.CreateState(32), tokens, b, allLogits: true);
        Assert.Equal(b, a);
    }

    [Fact]
    public void LoadedMatricesPointIntoTheArenaNotTheMapping()
    {
        using var model = ModelLoader.Load(TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), new ModelOptions { Threads = 1 });
        var (start, length) = model.Weights.MatrixMemory;
        Assert.Equal(model.Weights.LoadedBytes, length);
        unsafe
        {
            var mapBase = (nint)model.File.BasePointer;
            Assert.True(start < mapBase || start >= mapBase + (nint)model.File.Length, "the arena must not overlap the file mapping");
        }
    }
}

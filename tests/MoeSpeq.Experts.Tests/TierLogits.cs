using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>Evaluates a prompt on the bundled golden model resident and through a real slow tier, and asserts equal logits.</summary>
internal static class TierLogits
{
    public static ExpertRuntime AssertEqualToResident(OffloadOptions options)
    {
        var path = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        int[] tokens = [1, 450, 4996, 17354, 1701];
        using var resident = ModelLoader.Load(path, new ModelOptions { Threads = 2 });
        var runtime = new ExpertRuntime(options, (catalog, p) => SlowTiers.Open(options, catalog, p));
        using var offloaded = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));
        var a = new float[tokens.Length * resident.Config.VocabSize];
        var b = new float[a.Length];
        resident.Evaluate(resident.CreateState(16), tokens, a, allLogits: true);
        offloaded.Evaluate(offloaded.CreateState(16), tokens, b, allLogits: true);
        Assert.Equal(a, b);
        return runtime;
    }
}

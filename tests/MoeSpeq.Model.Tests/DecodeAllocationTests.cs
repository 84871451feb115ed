using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Model.Tests;

public class DecodeAllocationTests
{
    [Fact]
    public void DecodeStepAllocatesNothing()
    {
        using var model = ModelLoader.Load(TestPaths.DemoModel, new ModelOptions { Threads = 2 });
        var state = model.CreateState(64);
        var logits = new float[model.Config.VocabSize];
        int[] token = [1];
        // Warm up: first calls size thread-local scratch and let the JIT settle.
        for (int i = 0; i < 8; i++) model.Evaluate(state, token, logits, allLogits: false);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 16; i++) model.Evaluate(state, token, logits, allLogits: false);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}

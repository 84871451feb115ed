using MoeSpeq.Experts.Tracing;
using MoeSpeq.Model;

namespace MoeSpeq.Experts.Tests.Tracing;

/// <summary>Records traces of short runs for the trace tests: a prefill and greedy decode steps, optionally offloaded.</summary>
internal static class TraceRecording
{
    public static readonly int[] Prompt = [1, 450, 4996, 17354, 1701, 29889, 338, 263];

    /// <summary>Runs a prompt then <paramref name="decode"/> greedy steps, <paramref name="sequences"/> times over; returns the runtime holding the trace.</summary>
    public static ExpertRuntime Record(string path, OffloadOptions options, int decode = 12, int sequences = 1, Func<ExpertCatalog, string, Tiers.ISlowTier>? tier = null)
    {
        var runtime = new ExpertRuntime(options with { RecordTrace = true }, tier ?? ((_, p) => new FileReadTier(p)));
        using var model = ModelLoader.Load(path, runtime.Attach(new ModelOptions { Threads = 2 }));
        int vocab = model.Config.VocabSize;
        var logits = new float[vocab];
        for (int s = 0; s < sequences; s++)
        {
            var state = model.CreateState(64);
            // Each sequence starts from a different prompt so the runs do not repeat each other.
            int[] prompt = [.. Prompt.Select(t => (t + 97 * s) % vocab)];
            model.Evaluate(state, prompt, logits, allLogits: false);
            for (int i = 0; i < decode; i++)
            {
                int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
                model.Evaluate(state, [next], logits, allLogits: false);
            }
        }
        runtime.FinishTrace();
        return runtime;
    }

    public static ExpertTrace Trace(ExpertRuntime runtime) => runtime.Trace ?? throw new InvalidOperationException("no trace recorded");
}

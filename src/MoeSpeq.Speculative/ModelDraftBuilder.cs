using MoeSpeq.Experts;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;

namespace MoeSpeq.Speculative;

/// <summary>
/// Builds a separate-model draft around the target's load: <see cref="Attach"/> wraps the expert executor that the
/// expert runtime chose (resident or offloaded) in a <see cref="RoutingObserverExecutor"/> that learns the target's
/// token-to-expert routing, and <see cref="Create"/> loads the draft model once the target exists.
/// </summary>
/// <param name="maxDepth">Most drafts per cycle (the lookahead buffer's depth).</param>
/// <param name="runtime">The target's expert runtime: where forecasts are prefetched, and the stats they are scored into.</param>
public sealed class ModelDraftBuilder(int maxDepth, ExpertRuntime runtime, TokenExpertPredictorOptions? predictorOptions = null)
{
    RoutingObserverExecutor? _observer;

    /// <summary>Target model options whose expert executor reports its routing; <paramref name="options"/> has the runtime attached already.</summary>
    public ModelOptions Attach(ModelOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDepth, 1);
        return options with
        {
            ExpertExecutor = layout =>
            {
                var c = layout.Config;
                var inner = options.BuildExpertExecutor(layout);
                try
                {
                    var moeLayers = Enumerable.Range(0, layout.Layers.Length).Where(l => layout.Layers[l].Length > 0);
                    var predictor = new TokenExpertPredictor(c.VocabSize, layout.Layers.Length, moeLayers, c.ExpertCount, c.ExpertUsedCount, predictorOptions);
                    var elb = new ExpertLookaheadBuffer(maxDepth, layout.Layers.Length, c.ExpertCount, c.ExpertUsedCount);
                    return _observer = new RoutingObserverExecutor(inner, predictor, elb, runtime.Stats.Speculation);
                }
                catch
                {
                    (inner as IDisposable)?.Dispose();
                    throw;
                }
            },
        };
    }

    /// <summary>
    /// Loads the draft model at <paramref name="draftPath"/> with <paramref name="draftOptions"/> (its own options:
    /// not the target's, which carry the target's expert executor) and returns the draft of <paramref name="target"/>.
    /// A target loaded without <see cref="Attach"/>'s options, or one with no routed experts, gets a draft without
    /// expert forecasts.
    /// </summary>
    /// <param name="contextLength">Positions of the draft's KV cache (see <see cref="ModelDraft"/>); 0 for the default.</param>
    /// <exception cref="ArgumentException">The draft's vocabulary differs from the target's.</exception>
    public ModelDraft Create(LanguageModel target, string draftPath, ModelOptions draftOptions, int contextLength = 0)
    {
        // The headers are compared before any weight is read.
        using (var file = ModelLoader.OpenFile(draftPath)) ModelDraft.CheckVocabulary(target.File, file);
        var draft = ModelLoader.Load(draftPath, draftOptions);
        try
        {
            return new ModelDraft(target, draft, maxDepth, _observer, _observer is null ? null : runtime.PrefetchSink, contextLength);
        }
        catch
        {
            draft.Dispose();
            throw;
        }
    }
}

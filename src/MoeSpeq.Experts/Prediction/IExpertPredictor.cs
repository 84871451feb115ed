using MoeSpeq.Model.Experts;

namespace MoeSpeq.Experts.Prediction;

/// <summary>Receives a predictor's guesses: expert <paramref name="key"/> will be used <paramref name="layersAhead"/> layers from now.</summary>
public interface IPrefetchSink
{
    void Predict(ExpertKey key, int layersAhead, float confidence);
}

/// <summary>
/// Guesses which experts later layers will use, so they can be read before they are needed. Called on the compute
/// thread as each MoE layer routes, with the layer's residual stream and its actual choice; a speculative draft's
/// Expert Lookahead Buffer feeds the same sink.
/// </summary>
public interface IExpertPredictor
{
    string Name { get; }

    /// <summary>residual: [tokens, dim] before the layer's FFN; ids: [tokens, k], the experts the layer chose.</summary>
    void Observe(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<int> ids, int tokens, int k, IPrefetchSink sink);
}

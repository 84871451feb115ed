namespace MoeSpeq.Model.Experts;

/// <summary>
/// The seam between a model and the routed experts. The model routes (it owns the router); the executor runs the
/// chosen experts wherever their weights live: resident in the mapped file, in a budgeted cache fed from disk, or
/// behind an emulated link. Architectures call only this interface, so storage policy never enters a forward pass.
/// </summary>
public interface IExpertExecutor
{
    /// <summary>
    /// output[t, :] = Σ_j weights[t, j] · Expert(layer, ids[t, j])(hidden[t, :]), summed in slot order j = 0..k−1.
    /// hidden (the normalised FFN input), output: [tokens, dim]; ids, weights: [tokens, k]. residual: [tokens, dim],
    /// the residual stream before this layer's FFN, which predictors feed to later layers' routers.
    /// </summary>
    void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output);

    /// <summary>
    /// A new sequence starts at position 0 (a new request or perplexity chunk): per-sequence state such as an
    /// activation-aware cache's counts resets. The model calls it before the sequence's first forward pass.
    /// </summary>
    void OnSequenceStart() { }
}

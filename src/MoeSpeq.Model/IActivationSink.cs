namespace MoeSpeq.Model;

/// <summary>
/// Receives named intermediate activations ("attn_out", layer) during a forward pass, so a layer can be diffed
/// against a reference dump. Models call it only when one is attached.
/// </summary>
public interface IActivationSink
{
    void Record(string name, int layer, ReadOnlySpan<float> values);
}

namespace MoeSpeq.Inference.Tokenization;

/// <summary>The GGUF tokenizer metadata is missing, malformed or inconsistent; <see cref="Key"/> names the culprit.</summary>
public sealed class TokenizerMetadataException(string key, string problem)
    : FormatException($"tokenizer metadata '{key}': {problem}")
{
    /// <summary>The GGUF metadata key at fault (e.g. <c>tokenizer.ggml.pre</c>).</summary>
    public string Key { get; } = key;
}

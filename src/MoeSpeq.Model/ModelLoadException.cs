namespace MoeSpeq.Model;

/// <summary>A model file that parses as GGUF but cannot be run: a missing or inconsistent key, a tensor of the wrong shape or type.</summary>
public sealed class ModelLoadException(string message) : Exception(message);

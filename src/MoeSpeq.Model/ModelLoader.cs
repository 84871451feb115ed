using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model.Architectures;

namespace MoeSpeq.Model;

/// <summary>Opens a model file and builds the architecture that <c>general.architecture</c> names.</summary>
public static class ModelLoader
{
    static readonly Dictionary<string, Func<GgufFile, ModelOptions, LanguageModel>> Architectures = new(StringComparer.Ordinal)
    {
        ["llama"] = LlamaModel.Load,
        ["deepseek2"] = DeepSeek2Model.Load,
        ["phimoe"] = PhiMoeModel.Load,
        ["gpt-oss"] = GptOssModel.Load,
        ["qwen2moe"] = Qwen2MoeModel.Load,
        ["qwen3moe"] = Qwen3MoeModel.Load,
        ["olmoe"] = OlmoeModel.Load,
    };

    public static IReadOnlyCollection<string> SupportedArchitectures => Architectures.Keys;

    public static LanguageModel Load(string path, ModelOptions? options = null)
    {
        var file = GgufFile.Open(path);
        try
        {
            // llama.cpp marks models "model" and LoRA adapters "adapter"; a file of another kind has no model to load.
            if (file.Header.GetString("general.type") is { } kind && kind != "model")
                throw new ModelLoadException($"{Path.GetFileName(path)} is not a model: its general.type is \"{kind}\"");
            string arch = file.Header.GetString("general.architecture") ?? throw new ModelLoadException("general.architecture is missing");
            if (!Architectures.TryGetValue(arch, out var build))
                throw new ModelLoadException($"architecture \"{arch}\" is not supported (supported: {string.Join(", ", Architectures.Keys)})");
            return build(file, options ?? new ModelOptions());
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}

namespace MoeSpeq.Formats.HuggingFace;

/// <summary>
/// A Hugging Face model directory that cannot be used: a missing or unreadable file (config.json, a shard, the
/// shard index, tokenizer.json), JSON that is not what the file should hold, a missing or malformed key, an index
/// that names a shard or tensor that is not there. The message names the file and the key or tensor.
/// </summary>
public sealed class HfFormatException : FormatException
{
    public HfFormatException(string file, string field, string problem)
        : base($"invalid Hugging Face model directory: {file}{(field.Length == 0 ? "" : $": {field}")}: {problem}")
    {
        FileName = file;
        Field = field;
    }

    /// <summary>The file in the directory that is wrong (or missing).</summary>
    public string FileName { get; }

    /// <summary>The key, tensor or entry that is wrong; empty when the whole file is.</summary>
    public string Field { get; }
}

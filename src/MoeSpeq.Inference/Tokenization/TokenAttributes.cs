namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// Per-token attributes, as llama.cpp derives them (<c>llama_token_attr</c>) from the GGUF
/// <c>tokenizer.ggml.token_type</c> array and a few name-based fix-ups. Flags, because fix-ups add to the type
/// (a user-defined <c>&lt;/s&gt;</c> that is also an end-of-generation token becomes control as well).
/// </summary>
[Flags]
public enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    /// <summary>Whitespace left of this special token is dropped when it is split out of raw text.</summary>
    LStrip = 1 << 7,
    /// <summary>Whitespace right of this special token is dropped when it is split out of raw text.</summary>
    RStrip = 1 << 8,
}

/// <summary>The integer token types stored in <c>tokenizer.ggml.token_type</c>.</summary>
static class GgufTokenType
{
    public const int Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    public static TokenAttributes ToAttributes(int type) => type switch
    {
        Normal => TokenAttributes.Normal,
        Unknown => TokenAttributes.Unknown,
        Control => TokenAttributes.Control,
        UserDefined => TokenAttributes.UserDefined,
        Unused => TokenAttributes.Unused,
        Byte => TokenAttributes.Byte,
        _ => TokenAttributes.Undefined,
    };
}

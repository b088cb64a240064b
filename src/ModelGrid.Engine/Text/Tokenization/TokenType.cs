namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>What a vocabulary entry is, numbered as ggml numbers <c>tokenizer.ggml.token_type</c>.</summary>
public enum TokenType
{
    /// <summary>A byte-level BPE token: its text is in GPT-2's byte alphabet.</summary>
    Normal = 1,
    Unknown = 2,

    /// <summary>A special token (Hugging Face <c>special: true</c>) such as <c>&lt;|im_start|&gt;</c>: recognized in text only when special tokens are parsed.</summary>
    Control = 3,

    /// <summary>An added token that is not special, such as <c>&lt;think&gt;</c>: always recognized in text as a unit.</summary>
    UserDefined = 4,

    /// <summary>Padding of the vocabulary to the embedding size: never produced by encoding, decodes to nothing.</summary>
    Unused = 5,
    Byte = 6,
}

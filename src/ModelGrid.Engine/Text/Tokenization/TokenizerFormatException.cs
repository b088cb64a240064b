namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>A tokenizer file or vocabulary that cannot be loaded; the message names the file, field or token.</summary>
public sealed class TokenizerFormatException(string message, Exception? inner = null) : Exception(message, inner);

using System.Text;

namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>
/// Turns generated token ids into text as they arrive. A token may end inside a UTF-8 character (Qwen splits rare
/// CJK characters and emoji across tokens); those bytes are held until the character is complete, so no U+FFFD is
/// emitted for a character that the next token finishes. Not thread-safe: one per generation.
/// </summary>
public sealed class StreamingTokenDecoder
{
    readonly ByteLevelBpeTokenizer tokenizer;
    readonly bool skipControlTokens;
    readonly Decoder utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();

    internal StreamingTokenDecoder(ByteLevelBpeTokenizer tokenizer, bool skipControlTokens)
    {
        this.tokenizer = tokenizer;
        this.skipControlTokens = skipControlTokens;
    }

    /// <summary>The text completed by <paramref name="id"/>; empty while a character is still unfinished.</summary>
    public string Append(int id) =>
        skipControlTokens && tokenizer.IsControl(id) ? "" : Convert(tokenizer.TokenBytes(id), flush: false);

    /// <summary>Ends the stream: bytes of an unfinished character come out as U+FFFD, and the decoder starts afresh.</summary>
    public string Flush() => Convert([], flush: true);

    string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int charCount = utf8.GetCharCount(bytes, flush);
        Span<char> chars = charCount <= 256 ? stackalloc char[charCount] : new char[charCount];
        int written = utf8.GetChars(bytes, chars, flush);
        return new string(chars[..written]);
    }
}

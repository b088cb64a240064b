namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>
/// GPT-2's byte-to-character mapping used by byte-level BPE vocabularies: printable Latin-1 bytes stand for
/// themselves and the other 68 bytes for U+0100 onwards, so every token is a string of visible characters.
/// </summary>
static class ByteLevelAlphabet
{
    static readonly char[] CharOfByte = BuildCharOfByte();
    static readonly Dictionary<char, byte> ByteOfChar = Enumerable.Range(0, 256).ToDictionary(b => CharOfByte[b], b => (byte)b);

    public static char ToChar(byte value) => CharOfByte[value];

    /// <summary>The bytes a byte-level token string stands for, or null when it holds a character outside the alphabet.</summary>
    public static byte[]? TryDecode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
            if (!ByteOfChar.TryGetValue(token[i], out bytes[i]))
                return null;
        return bytes;
    }

    static char[] BuildCharOfByte()
    {
        var chars = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            chars[b] = (char)(printable ? b : next++);
        }
        return chars;
    }
}

namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>Finds added tokens in raw text leftmost-longest, as Hugging Face's added vocabulary does.</summary>
sealed class AddedTokenMatcher
{
    readonly Dictionary<char, (string Text, int Id)[]> candidatesByFirstChar;

    public AddedTokenMatcher(IEnumerable<(string Text, int Id)> tokens)
    {
        candidatesByFirstChar = tokens
            .Where(token => token.Text.Length > 0)
            .GroupBy(token => token.Text[0])
            .ToDictionary(group => group.Key, group => group.OrderByDescending(token => token.Text.Length).ToArray());
    }

    /// <summary>The first added token at or after <paramref name="start"/>, the longest one where several start at the same place.</summary>
    public bool TryFindNext(ReadOnlySpan<char> text, int start, out int position, out int length, out int id)
    {
        if (candidatesByFirstChar.Count > 0)
        {
            for (position = start; position < text.Length; position++)
            {
                if (!candidatesByFirstChar.TryGetValue(text[position], out var candidates))
                    continue;
                foreach (var (tokenText, tokenId) in candidates)
                {
                    if (text[position..].StartsWith(tokenText, StringComparison.Ordinal))
                    {
                        length = tokenText.Length;
                        id = tokenId;
                        return true;
                    }
                }
            }
        }
        position = length = id = 0;
        return false;
    }
}

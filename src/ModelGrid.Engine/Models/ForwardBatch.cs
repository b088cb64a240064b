namespace ModelGrid.Engine.Models;

/// <summary>
/// The tokens of one forward pass, possibly from several sequences: each token knows its sequence, its
/// position there, and whether its logits are wanted. Tokens of one sequence appear in position order.
/// </summary>
public sealed class ForwardBatch
{
    readonly List<int> _tokens = [];
    readonly List<int> _positions = [];
    readonly List<SequenceState> _sequences = [];
    readonly List<int> _logitTokens = [];

    public int Count => _tokens.Count;

    public int LogitRows => _logitTokens.Count;

    public int Token(int i) => _tokens[i];

    public int Position(int i) => _positions[i];

    public SequenceState Sequence(int i) => _sequences[i];

    /// <summary>Indices (into the batch) of the tokens whose logits are computed, in output-row order.</summary>
    public IReadOnlyList<int> LogitTokens => _logitTokens;

    public void Add(SequenceState sequence, int token, bool wantLogits)
    {
        int position = sequence.Length + sequence.Pending;
        if (position >= sequence.ContextLength)
            throw new ContextLengthExceededException(sequence.ContextLength);
        sequence.Pending++;
        if (wantLogits)
            _logitTokens.Add(_tokens.Count);
        _tokens.Add(token);
        _positions.Add(position);
        _sequences.Add(sequence);
    }

    /// <summary>Adds a run of tokens to one sequence; logits for all of them or only the last.</summary>
    public void Add(SequenceState sequence, ReadOnlySpan<int> tokens, bool logitsForAll = false)
    {
        for (int i = 0; i < tokens.Length; i++)
            Add(sequence, tokens[i], logitsForAll || i == tokens.Length - 1);
    }

    /// <summary>Marks every sequence's pending tokens as stored and empties the batch.</summary>
    internal void Commit()
    {
        foreach (var sequence in _sequences)
        {
            sequence.Length += sequence.Pending;
            sequence.Pending = 0;
        }
        Clear();
    }

    public void Clear()
    {
        foreach (var sequence in _sequences)
            sequence.Pending = 0;
        _tokens.Clear();
        _positions.Clear();
        _sequences.Clear();
        _logitTokens.Clear();
    }
}

public sealed class ContextLengthExceededException(int contextLength)
    : Exception($"the sequence reached the context length of {contextLength} tokens")
{
    public int ContextLength { get; } = contextLength;
}

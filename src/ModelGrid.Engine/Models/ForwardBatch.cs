using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Models;

/// <summary>
/// The rows of one forward pass, possibly from several sequences. A row is a token id or a precomputed embedding
/// (an image token), with its sequence, its slot in that sequence's cache, its rotary position, and whether its logits
/// are wanted. Rows of one sequence appear in order.
/// </summary>
public sealed class ForwardBatch
{
    readonly List<int> _tokens = [];
    readonly List<int> _slots = [];
    readonly List<RopePosition> _ropePositions = [];
    readonly List<SequenceState> _sequences = [];
    readonly List<(float[] Values, int Offset, int Width)?> _embeddings = [];
    readonly List<int> _logitRows = [];

    public int Count => _tokens.Count;

    public int LogitRows => _logitRows.Count;

    /// <summary>The token id of a row, or -1 for an embedding row.</summary>
    public int Token(int i) => _tokens[i];

    /// <summary>The row's index in its sequence (its KV cache slot).</summary>
    public int Position(int i) => _slots[i];

    public RopePosition RopePosition(int i) => _ropePositions[i];

    public SequenceState Sequence(int i) => _sequences[i];

    /// <summary>The precomputed input of an embedding row: main width first, then deepstack features (see <see cref="AddEmbeddings"/>).</summary>
    public (float[] Values, int Offset, int Width)? Embedding(int i) => _embeddings[i];

    /// <summary>Indices (into the batch) of the rows whose logits are computed, in output-row order.</summary>
    public IReadOnlyList<int> LogitTokens => _logitRows;

    public void Add(SequenceState sequence, int token, bool wantLogits)
    {
        int rope = sequence.NextRopePosition + sequence.PendingRopeAdvance;
        AddRow(sequence, token, null, Compute.RopePosition.Text(rope), wantLogits);
        sequence.PendingRopeAdvance++;
    }

    /// <summary>Adds a run of tokens to one sequence; logits for all of them or only the last.</summary>
    public void Add(SequenceState sequence, ReadOnlySpan<int> tokens, bool logitsForAll = false)
    {
        for (int i = 0; i < tokens.Length; i++)
            Add(sequence, tokens[i], logitsForAll || i == tokens.Length - 1);
    }

    /// <summary>
    /// Adds an image's rows: <paramref name="gridWidth"/> × <paramref name="gridHeight"/> embeddings, row-major, each
    /// <paramref name="rowWidth"/> values (the model's embedding width, optionally followed by deepstack features that are
    /// added after the first text layers). Rotary positions are (p, p + row, p + column); the text after the image resumes
    /// at p + max(gridWidth, gridHeight), as Qwen-VL's M-RoPE places it.
    /// </summary>
    public void AddEmbeddings(SequenceState sequence, float[] embeddings, int rowWidth, int gridWidth, int gridHeight, bool logitsForAll = false)
    {
        int rows = gridWidth * gridHeight;
        if (embeddings.Length != (long)rows * rowWidth)
            throw new ArgumentException($"{embeddings.Length} embedding values are not {rows} rows of {rowWidth}", nameof(embeddings));
        int start = sequence.NextRopePosition + sequence.PendingRopeAdvance;
        for (int i = 0; i < rows; i++)
            AddRow(sequence, -1, (embeddings, i * rowWidth, rowWidth), new RopePosition(start, start + i / gridWidth, start + i % gridWidth), logitsForAll);
        sequence.PendingRopeAdvance += Math.Max(gridWidth, gridHeight);
    }

    void AddRow(SequenceState sequence, int token, (float[], int, int)? embedding, RopePosition rope, bool wantLogits)
    {
        int slot = sequence.Length + sequence.Pending;
        if (slot >= sequence.ContextLength)
            throw new ContextLengthExceededException(sequence.ContextLength);
        sequence.Pending++;
        if (wantLogits)
            _logitRows.Add(_tokens.Count);
        _tokens.Add(token);
        _slots.Add(slot);
        _ropePositions.Add(rope);
        _sequences.Add(sequence);
        _embeddings.Add(embedding);
    }

    /// <summary>Marks every sequence's pending rows as stored and empties the batch.</summary>
    internal void Commit()
    {
        foreach (var sequence in _sequences)
        {
            sequence.Length += sequence.Pending;
            sequence.NextRopePosition += sequence.PendingRopeAdvance;
            sequence.Pending = 0;
            sequence.PendingRopeAdvance = 0;
        }
        Clear();
    }

    public void Clear()
    {
        foreach (var sequence in _sequences)
        {
            sequence.Pending = 0;
            sequence.PendingRopeAdvance = 0;
        }
        _tokens.Clear();
        _slots.Clear();
        _ropePositions.Clear();
        _sequences.Clear();
        _embeddings.Clear();
        _logitRows.Clear();
    }
}

public sealed class ContextLengthExceededException(int contextLength)
    : Exception($"the sequence reached the context length of {contextLength} tokens")
{
    public int ContextLength { get; } = contextLength;
}

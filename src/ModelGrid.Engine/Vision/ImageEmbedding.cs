namespace ModelGrid.Engine.Vision;

/// <summary>
/// What a vision tower makes of one image: <see cref="TokenCount"/> rows of <see cref="Width"/> values, one per merged
/// token in row-major order over the <see cref="GridWidth"/> × <see cref="GridHeight"/> grid. Each row is the merger's
/// output (<see cref="MergerWidth"/> values, the text model's input embedding) followed by one block of the same width
/// per deepstack merger, block k to be added to the hidden state after text layer <see cref="DeepstackLayers"/>[k].
/// </summary>
public sealed class ImageEmbedding(float[] embeddings, int gridWidth, int gridHeight, int mergerWidth, int deepstackCount)
{
    public float[] Embeddings => embeddings;
    public int GridWidth => gridWidth;
    public int GridHeight => gridHeight;
    public int TokenCount => gridWidth * gridHeight;
    public int MergerWidth => mergerWidth;
    public int Width => mergerWidth * (1 + deepstackCount);

    /// <summary>Text layer after which each deepstack block is added: block k after layer k (Qwen3-VL's deepstack order).</summary>
    public int[] DeepstackLayers { get; } = Enumerable.Range(0, deepstackCount).ToArray();

    /// <summary>The whole row of token <paramref name="token"/> (merger output, then every deepstack block).</summary>
    public ReadOnlySpan<float> Row(int token) => embeddings.AsSpan(CheckToken(token) * Width, Width);

    /// <summary>The text model's input embedding for token <paramref name="token"/>.</summary>
    public ReadOnlySpan<float> Merger(int token) => embeddings.AsSpan(CheckToken(token) * Width, mergerWidth);

    /// <summary>Deepstack block <paramref name="block"/> of token <paramref name="token"/>.</summary>
    public ReadOnlySpan<float> Deepstack(int token, int block)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(block);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(block, deepstackCount);
        return embeddings.AsSpan(CheckToken(token) * Width + (1 + block) * mergerWidth, mergerWidth);
    }

    int CheckToken(int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, TokenCount);
        return token;
    }
}

namespace ModelGrid.Engine.Generation;

/// <summary>When generation stops and how tokens are sampled.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 512;
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Text that ends generation; it is not included in the output.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Keep going past end-of-generation tokens (benchmarks).</summary>
    public bool IgnoreEndOfGeneration { get; init; }
}

public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>MaxTokens reached, or the context is full.</summary>
    Length,
}

/// <summary>
/// One step of a streamed generation: the text it completes (possibly empty while a UTF-8 sequence or a possible
/// stop string is held back) and the token. The last chunk carries <see cref="FinishReason"/> and no token.
/// </summary>
public sealed record GenerationChunk(string Text, int? TokenId, FinishReason? FinishReason, int PromptTokens, int CompletionTokens)
{
    public float? LogProbability { get; init; }
}

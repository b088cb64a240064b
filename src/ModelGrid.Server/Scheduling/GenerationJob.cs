using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Server.Scheduling;

/// <summary>One sequence to generate: its prompt ids, when to stop and how to sample, and optional output constraints.</summary>
public sealed record GenerationJob(IReadOnlyList<int> Prompt, GenerationOptions Options)
{
    /// <summary>
    /// The prompt's images, in order: each <c>&lt;|image_pad|&gt;</c> id of <see cref="Prompt"/> stands for the next one
    /// and is computed as its embedding rows (see <see cref="ChatPrompt"/>). Empty: the prompt is text only.
    /// </summary>
    public IReadOnlyList<ImageEmbedding> Images { get; init; } = [];

    /// <summary>
    /// Prompt lengths (in ids) where a copy of the state is worth keeping for later requests, e.g. the end of a shared
    /// system prompt or of the last user turn. Used only where a cached state cannot be cut back to a shorter prefix
    /// (recurrent layers, images); other states serve any prefix of themselves.
    /// </summary>
    public IReadOnlyList<int> SnapshotPoints { get; init; } = [];

    /// <summary>Report each token's log probability (a pass over the vocabulary per token, so only on request).</summary>
    public bool Logprobs { get; init; }

    /// <summary>How many most-likely alternatives to report with each token (0: none); needs <see cref="Logprobs"/>.</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Restricts which tokens may come next (structured output, forced tool calls).</summary>
    public ITokenConstraint? Constraint { get; init; }
}

/// <summary>Decides which tokens may follow the output so far.</summary>
public interface ITokenConstraint
{
    /// <summary>Sets the logits of every token that may not come next to negative infinity.</summary>
    void Mask(Span<float> logits);

    /// <summary>Advances past the chosen token.</summary>
    void Accept(int token);
}

public readonly record struct TokenLogprob(int TokenId, float LogProbability);

/// <summary>
/// One step of a generation as the scheduler streams it: the text the token completes (held back while it may be
/// part of a stop string or an unfinished UTF-8 character), then a last chunk with the finish reason and no token.
/// </summary>
public sealed record GeneratedToken(string Text, int? TokenId, FinishReason? FinishReason, int PromptTokens, int CompletionTokens)
{
    /// <summary>log p(token) from the logits it was sampled from (after bias, penalties and constraints); 0 unless the job asked.</summary>
    public float LogProbability { get; init; }
    public IReadOnlyList<TokenLogprob>? TopLogprobs { get; init; }
    /// <summary>Prompt tokens whose state came from the prefix cache instead of being computed.</summary>
    public int CachedPromptTokens { get; init; }
}

/// <summary>The bounded wait queue is full; the client should retry after <see cref="RetryAfter"/>.</summary>
public sealed class QueueFullException(int queueLimit, TimeSpan retryAfter)
    : Exception($"the server is busy: {queueLimit} requests are already waiting")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>A request that could never be admitted: it needs more KV blocks than the whole budget holds.</summary>
public sealed class KvBudgetExceededException(int needed, int total, int blockTokens)
    : Exception($"the request needs {needed} KV blocks ({needed * blockTokens} tokens) but the KV budget holds {total}; lower max_tokens or shorten the prompt");

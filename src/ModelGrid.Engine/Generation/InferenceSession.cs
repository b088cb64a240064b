using System.Runtime.CompilerServices;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Generation;

/// <summary>
/// One conversation with a model: its cached state and token history. A new prompt that extends the history
/// (the next chat turn) only computes the new tokens. Not thread-safe: one generation at a time per session.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    const int PromptChunk = 512;

    readonly LanguageModel _model;
    readonly SequenceState _sequence;
    readonly ForwardBatch _batch = new();
    readonly List<int> _history = [];
    readonly float[] _logits;

    internal InferenceSession(LanguageModel model, int? contextLength)
    {
        _model = model;
        _sequence = model.Decoder.CreateSequence(contextLength);
        _logits = new float[model.Decoder.VocabSize];
    }

    /// <summary>Every token the session's state holds, prompt and generated.</summary>
    public IReadOnlyList<int> Tokens => _history;

    public int ContextLength => _sequence.ContextLength;

    /// <summary>Encodes plain text (special tokens in it are recognized: the caller wrote them) and streams the continuation.</summary>
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(string prompt, GenerationOptions options, CancellationToken cancellationToken = default) =>
        GenerateAsync(_model.Tokenizer.Encode(prompt, parseSpecialTokens: true), options, cancellationToken);

    /// <summary>
    /// Streams the continuation of <paramref name="prompt"/>: one chunk per generated token, then a final chunk with
    /// the finish reason. The prompt replaces the session's history except for a shared prefix, which is reused.
    /// </summary>
    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (prompt.Count == 0)
            throw new ArgumentException("the prompt is empty", nameof(prompt));
        if (prompt.Count >= ContextLength)
            throw new ContextLengthExceededException(ContextLength);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxTokens);
        var sampler = new Sampler(options.Sampling);
        var decoder = _model.Tokenizer.CreateStreamingDecoder();
        var stops = new StopStringFilter(options.Stop);

        Prefill(prompt, cancellationToken);
        int generated = 0;
        FinishReason finish = FinishReason.Length;
        while (generated < options.MaxTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int token = sampler.Sample(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_history));
            float logProbability = Sampler.LogProbability(_logits, token);
            generated++;
            if (!options.IgnoreEndOfGeneration && _model.EndOfGenerationTokens.Contains(token))
            {
                finish = FinishReason.Stop;
                break;
            }
            string text = stops.Push(decoder.Append(token));
            yield return new GenerationChunk(text, token, null, prompt.Count, generated) { LogProbability = logProbability };
            if (stops.Stopped)
            {
                finish = FinishReason.Stop;
                break;
            }
            if (_history.Count >= ContextLength || generated == options.MaxTokens)
            {
                // The sampled token is part of the reply; store it so a following turn can extend the history.
                if (_history.Count < ContextLength)
                    Run([token], cancellationToken);
                break;
            }
            Run([token], cancellationToken);
            await Task.Yield();
        }
        string rest = stops.Stopped ? "" : stops.Push(decoder.Flush()) + stops.Flush();
        yield return new GenerationChunk(rest, null, finish, prompt.Count, generated);
    }

    /// <summary>Brings the state to <paramref name="prompt"/>, computing only what the history does not share, and leaves the last logits.</summary>
    void Prefill(IReadOnlyList<int> prompt, CancellationToken cancellationToken)
    {
        int shared = 0;
        while (shared < _history.Count && shared < prompt.Count - 1 && _history[shared] == prompt[shared])
            shared++;
        if (shared < _history.Count)
        {
            try
            {
                _sequence.Truncate(shared);
            }
            catch (InvalidOperationException)
            {
                // Recurrent layers cannot be rewound: start over.
                _sequence.Reset();
                shared = 0;
            }
            _history.RemoveRange(shared, _history.Count - shared);
        }
        var rest = prompt.Skip(shared).ToArray();
        for (int start = 0; start < rest.Length; start += PromptChunk)
            Run(rest.AsSpan(start, Math.Min(PromptChunk, rest.Length - start)), cancellationToken);
    }

    void Run(ReadOnlySpan<int> tokens, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _batch.Add(_sequence, tokens);
        _model.Decoder.Forward(_batch, _logits);
        foreach (int token in tokens)
            _history.Add(token);
    }

    public void Dispose() => _sequence.Dispose();
}

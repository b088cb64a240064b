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
    bool _holdsImages;

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
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        CancellationToken cancellationToken = default) => GenerateAsync(prompt, options, [], cancellationToken);

    /// <summary>
    /// As above, with images: each <c>&lt;|image_pad|&gt;</c> id in <paramref name="prompt"/> (see <see cref="ChatPrompt"/>)
    /// stands for the next of <paramref name="images"/>, whose embedding rows replace it.
    /// </summary>
    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        IReadOnlyList<Vision.ImageEmbedding> images, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (prompt.Count == 0)
            throw new ArgumentException("the prompt is empty", nameof(prompt));
        int promptRows = prompt.Count + images.Sum(image => image.TokenCount - 1);
        if (promptRows >= ContextLength)
            throw new ContextLengthExceededException(ContextLength);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxTokens);
        var sampler = new Sampler(options.Sampling);
        var decoder = _model.Tokenizer.CreateStreamingDecoder();
        var stops = new StopStringFilter(options.Stop);

        if (images.Count > 0 || _holdsImages)
            PrefillWithImages(prompt, images, cancellationToken);
        else
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
            yield return new GenerationChunk(text, token, null, promptRows, generated) { LogProbability = logProbability };
            if (stops.Stopped)
            {
                finish = FinishReason.Stop;
                break;
            }
            if (_sequence.Length >= ContextLength || generated == options.MaxTokens)
            {
                // The sampled token is part of the reply; store it so a following turn can extend the history.
                if (_sequence.Length < ContextLength)
                    Run([token], cancellationToken);
                break;
            }
            Run([token], cancellationToken);
            await Task.Yield();
        }
        string rest = stops.Stopped ? "" : stops.Push(decoder.Flush()) + stops.Flush();
        yield return new GenerationChunk(rest, null, finish, promptRows, generated);
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

    /// <summary>
    /// Starts over (image rows cannot be matched against a token history) and computes the prompt with each image slot
    /// replaced by its embedding rows.
    /// </summary>
    void PrefillWithImages(IReadOnlyList<int> prompt, IReadOnlyList<Vision.ImageEmbedding> images, CancellationToken cancellationToken)
    {
        if (!_model.Tokenizer.TryGetTokenId("<|image_pad|>", out int imageSlot) && images.Count > 0)
            throw new NotSupportedException($"{_model.Name}'s vocabulary has no <|image_pad|> token for images");
        int slots = images.Count == 0 ? 0 : prompt.Count(id => id == imageSlot);
        if (slots != images.Count)
            throw new ArgumentException($"the prompt has {slots} image slots but {images.Count} images were given", nameof(images));
        if (images.Count > 0 && prompt[^1] == imageSlot)
            throw new ArgumentException("the prompt must not end with an image", nameof(prompt));
        _sequence.Reset();
        _history.Clear();
        _holdsImages = images.Count > 0;
        int next = 0, start = 0;
        for (int i = 0; i <= prompt.Count; i++)
        {
            bool isSlot = i < prompt.Count && images.Count > 0 && prompt[i] == imageSlot;
            if (!isSlot && i < prompt.Count)
                continue;
            for (int chunk = start; chunk < i; chunk += PromptChunk)
                Run(prompt.Skip(chunk).Take(Math.Min(PromptChunk, i - chunk)).ToArray(), cancellationToken);
            if (isSlot)
            {
                var image = images[next++];
                cancellationToken.ThrowIfCancellationRequested();
                _batch.AddEmbeddings(_sequence, image.Embeddings, image.Width, image.GridWidth, image.GridHeight);
                _model.Decoder.Forward(_batch, _logits);
                _history.Add(imageSlot);
            }
            start = i + 1;
        }
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

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Text.Tokenization;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Server.Scheduling;

public sealed record SchedulerOptions
{
    /// <summary>Sequences that advance together in one batch.</summary>
    public int MaxRunning { get; init; } = 4;
    /// <summary>Context length of each sequence; null: the model's.</summary>
    public int? ContextLength { get; init; }
    /// <summary>KV-cache memory for running sequences and cached prefixes; null: room for MaxRunning full contexts twice over.</summary>
    public long? KvBudgetBytes { get; init; }
    /// <summary>Requests that may wait for a slot; past that, submitting fails with <see cref="QueueFullException"/>.</summary>
    public int QueueLimit { get; init; } = 64;
    /// <summary>Prompt tokens computed per step, shared by the sequences still reading their prompts.</summary>
    public int PrefillTokensPerStep { get; init; } = 256;
    /// <summary>Positions per accounted block: the engine's KV page, so the accounting follows the memory.</summary>
    public int KvBlockTokens { get; init; } = Engine.Models.Blocks.KvCache.PagePositions;
}

/// <summary>What the scheduler reports as it runs (metrics).</summary>
public interface ISchedulerObserver
{
    void TimeToFirstToken(TimeSpan elapsed);
    void InterTokenLatency(TimeSpan elapsed);
    void Finished(int promptTokens, int completionTokens);
}

/// <summary>
/// Continuous batching over one model: every running sequence adds its next token to one <see cref="ForwardBatch"/>,
/// sequences still reading their prompt add a chunk of it, and a single forward pass computes them all, so the decode
/// tokens share each weight read. New requests join between steps when a slot and KV blocks are free; past the bounded
/// wait queue they are refused. One dedicated thread drives the model.
/// An image in a prompt is computed whole in one step (its rows cannot be split), counted against the step's prompt
/// budget; it waits for the next step when other prompts already took part of the budget, so a step never exceeds the
/// budget by more than one image. Decode tokens of other sequences share that step as usual.
/// </summary>
public sealed class Scheduler : IDisposable
{
    readonly LanguageModel _model;
    readonly SchedulerOptions _options;
    readonly ISchedulerObserver? _observer;
    readonly KvBlockPool _blocks;
    readonly PrefixCache _prefixes;
    readonly LinkedList<Sequence> _waiting = new();
    readonly List<Sequence> _running = [];
    readonly ForwardBatch _batch = new();
    readonly SemaphoreSlim _wake = new(0);
    readonly CancellationTokenSource _stop = new();
    readonly Thread _thread;
    float[] _logits = [];

    public Scheduler(LanguageModel model, SchedulerOptions options, ISchedulerObserver? observer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxRunning, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PrefillTokensPerStep, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(options.QueueLimit);
        _model = model;
        _options = options;
        _observer = observer;
        ContextLength = Math.Min(options.ContextLength ?? model.Decoder.ContextLength, model.Decoder.ContextLength);
        long bytesPerToken = KvBytesPerToken(model);
        RecurrentStateBytes = model.Decoder.RecurrentStateBytes;
        long budget = options.KvBudgetBytes ?? 2L * options.MaxRunning * (ContextLength * bytesPerToken + RecurrentStateBytes);
        _blocks = new KvBlockPool(bytesPerToken, budget, options.KvBlockTokens, RecurrentStateBytes);
        _prefixes = new PrefixCache(_blocks);
        _imageSlot = model.Tokenizer.TryGetTokenId("<|image_pad|>", out int slot) ? slot : -1;
        _thread = new Thread(Run) { IsBackground = true, Name = $"scheduler {model.Name}" };
        _thread.Start();
    }

    public LanguageModel Model => _model;
    public int ContextLength { get; }

    // Read by metrics from other threads: approximate values are fine there.
    public int QueueDepth => Volatile.Read(ref _waitingCount);
    public int RunningCount => Volatile.Read(ref _runningCount);
    public int KvBlocksUsed => _blocks.UsedBlocks;
    public int KvBlocksTotal => _blocks.TotalBlocks;
    public int CachedPrefixes => _prefixes.Count;
    public long KvBytesPerBlock => _blocks.BytesPerBlock;

    /// <summary>Bytes of one sequence's recurrent state (0 for attention-only models); accounted in KV blocks as well.</summary>
    public long RecurrentStateBytes { get; }

    /// <summary>Recurrent-state memory of the running sequences and cached prefixes.</summary>
    public long RecurrentStateBytesInUse => RecurrentStateBytes * (RunningCount + CachedPrefixes);

    readonly int _imageSlot;
    int _waitingCount, _runningCount;

    /// <summary>
    /// Queues <paramref name="job"/> and streams its tokens. Throws <see cref="QueueFullException"/> at once when the
    /// wait queue is full. Cancelling <paramref name="cancellationToken"/> (a client that went away) frees the
    /// sequence and its blocks at the next step.
    /// </summary>
    public IAsyncEnumerable<GeneratedToken> Generate(GenerationJob job, CancellationToken cancellationToken = default)
    {
        if (job.Prompt.Count == 0)
            throw new ArgumentException("the prompt is empty", nameof(job));
        var layout = PromptLayout.Of(job, _imageSlot);
        if (layout.Rows >= ContextLength)
            throw new ContextLengthExceededException(ContextLength);
        var sampler = new Sampler(job.Options.Sampling);
        int needed = _blocks.BlocksFor(Math.Min(ContextLength, layout.Rows + job.Options.MaxTokens));
        if (needed > _blocks.TotalBlocks)
            throw new KvBudgetExceededException(needed, _blocks.TotalBlocks, _blocks.BlockTokens);
        bool rewindable = RecurrentStateBytes == 0 && job.Images.Count == 0;
        var sequence = new Sequence(job, layout, sampler, _model.Tokenizer.CreateStreamingDecoder(), needed, rewindable);
        lock (_waiting)
        {
            if (_waitingCount >= _options.QueueLimit)
                throw new QueueFullException(_options.QueueLimit, TimeSpan.FromSeconds(1));
            _waiting.AddLast(sequence);
            _waitingCount++;
        }
        // Registered now, not when reading starts: a request cancelled before it reads still withdraws its sequence.
        var registration = cancellationToken.Register(() =>
        {
            sequence.Cancelled = true;
            Wake();
        });
        Wake();
        return Read(sequence, registration, cancellationToken);
    }

    async IAsyncEnumerable<GeneratedToken> Read(Sequence sequence, CancellationTokenRegistration registration,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var _ = registration;
        try
        {
            await foreach (var token in sequence.Output.Reader.ReadAllAsync(cancellationToken))
                yield return token;
        }
        finally
        {
            // A consumer that stops reading early (break, exception) releases the sequence too.
            if (!sequence.Output.Reader.Completion.IsCompleted)
            {
                sequence.Cancelled = true;
                Wake();
            }
        }
    }

    void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (ObjectDisposedException)
        {
            // Shut down already: the sequence was completed with an error then.
        }
    }

    void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            DropCancelled();
            Admit();
            if (_running.Count == 0)
            {
                try
                {
                    _wake.Wait(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            Step();
        }
        foreach (var sequence in _running)
            Fail(sequence, new ObjectDisposedException(nameof(Scheduler), "the server is shutting down"));
        lock (_waiting)
            foreach (var sequence in _waiting)
                sequence.Output.Writer.TryComplete(new ObjectDisposedException(nameof(Scheduler), "the server is shutting down"));
        _prefixes.Clear();
    }

    void DropCancelled()
    {
        for (int i = _running.Count - 1; i >= 0; i--)
            if (_running[i].Cancelled)
            {
                var sequence = _running[i];
                _running.RemoveAt(i);
                sequence.State?.Dispose();
                _blocks.Release(sequence.Blocks);
                sequence.Output.Writer.TryComplete(new OperationCanceledException());
            }
        lock (_waiting)
            for (var node = _waiting.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.Cancelled)
                {
                    _waiting.Remove(node);
                    _waitingCount--;
                    node.Value.Output.Writer.TryComplete(new OperationCanceledException());
                }
                node = next;
            }
        Volatile.Write(ref _runningCount, _running.Count);
    }

    /// <summary>Moves waiting requests into the batch, oldest first, while slots and KV blocks allow.</summary>
    void Admit()
    {
        while (_running.Count < _options.MaxRunning)
        {
            Sequence sequence;
            lock (_waiting)
            {
                if (_waiting.First is not { } first)
                    break;
                sequence = first.Value;
            }
            var reused = _prefixes.TakeLongestPrefix(sequence.Layout.Keys);
            bool allocated;
            while (!(allocated = _blocks.TryAllocate(sequence.Blocks)) && _prefixes.EvictOldest())
            {
            }
            if (!allocated)
            {
                // Not enough KV memory until a running sequence finishes; the prefix stays cached meanwhile.
                if (reused is { Copied: true } copy)
                    copy.State.Dispose();
                else if (reused is { } back)
                    _prefixes.Add(back.State, sequence.Layout.Keys[..back.Shared], rewindable: true);
                break;
            }
            lock (_waiting)
            {
                _waiting.RemoveFirst();
                _waitingCount--;
            }
            sequence.HasBlocks = true;
            if (reused is { } prefix)
            {
                sequence.State = prefix.State;
                sequence.Prefilled = prefix.Shared;
                sequence.CachedPromptTokens = prefix.State.Length;
            }
            else
                sequence.State = _model.Decoder.CreateSequence(ContextLength);
            sequence.History.AddRange(sequence.Job.Prompt.Take(sequence.Prefilled));
            sequence.Admitted = Stopwatch.GetTimestamp();
            _running.Add(sequence);
        }
        Volatile.Write(ref _runningCount, _running.Count);
    }

    void Step()
    {
        var rows = new List<Sequence>();
        foreach (var sequence in _running)
            if (sequence.Decoding)
            {
                _batch.Add(sequence.State!, sequence.NextToken, wantLogits: true);
                sequence.History.Add(sequence.NextToken);
                rows.Add(sequence);
            }
        int budget = _options.PrefillTokensPerStep;
        var prefilling = new List<(Sequence Sequence, int From)>();
        foreach (var sequence in _running)
        {
            if (sequence.Decoding || budget == 0)
                continue;
            prefilling.Add((sequence, sequence.Prefilled));
            budget = AddPrompt(sequence, budget);
            if (sequence.Prefilled == sequence.Job.Prompt.Count)
                rows.Add(sequence);
        }
        // Logit rows come out in batch order: decode tokens first, then the prompts that finished this step.
        int vocab = _model.Decoder.VocabSize;
        if (_logits.Length < rows.Count * vocab)
            _logits = new float[rows.Count * vocab];
        try
        {
            _model.Decoder.Forward(_batch, _logits);
        }
        catch (Exception e)
        {
            // A failed pass leaves every sequence of the batch in an unknown state: end them all with the error.
            foreach (var sequence in _running)
                Fail(sequence, e);
            _running.Clear();
            return;
        }
        foreach (var (sequence, from) in prefilling)
            if (sequence.Prefilled > from && sequence.Prefilled == sequence.NextSnapshot(from))
                _prefixes.AddCopy(sequence.State!, sequence.Layout.Keys[..sequence.Prefilled]);
        for (int i = 0; i < rows.Count; i++)
            Advance(rows[i], _logits.AsSpan(i * vocab, vocab));
        _running.RemoveAll(s => s.Finished);
        Volatile.Write(ref _runningCount, _running.Count);
    }

    /// <summary>
    /// Adds the next part of the sequence's prompt to the batch, up to its next snapshot point and within
    /// <paramref name="budget"/> rows; returns the budget left.
    /// </summary>
    int AddPrompt(Sequence sequence, int budget)
    {
        var prompt = sequence.Job.Prompt;
        int end = Math.Min(prompt.Count, sequence.NextSnapshot(sequence.Prefilled));
        while (sequence.Prefilled < end && budget > 0)
        {
            int at = sequence.Prefilled;
            if (sequence.Layout.ImageAt[at] is int index and >= 0)
            {
                var image = sequence.Job.Images[index];
                if (image.TokenCount > budget && budget < _options.PrefillTokensPerStep)
                    return 0; // other prompts used part of this step: the image gets the next one
                _batch.AddEmbeddings(sequence.State!, image.Embeddings, image.Width, image.GridWidth, image.GridHeight);
                budget = Math.Max(0, budget - image.TokenCount);
            }
            else
            {
                _batch.Add(sequence.State!, prompt[at], wantLogits: at == prompt.Count - 1);
                budget--;
            }
            sequence.History.Add(prompt[at]);
            sequence.Prefilled++;
        }
        return budget;
    }

    /// <summary>Samples the sequence's next token from its logits and streams it, or finishes the sequence.</summary>
    void Advance(Sequence sequence, Span<float> logits)
    {
        var job = sequence.Job;
        if (job.Constraint is { } constraint)
        {
            constraint.Mask(logits);
            if (float.IsNegativeInfinity(System.Numerics.Tensors.TensorPrimitives.Max(logits)))
            {
                // The constraint allows nothing (it cannot happen with a well-formed grammar): end rather than emit garbage.
                Finish(sequence, FinishReason.Stop);
                return;
            }
        }
        int token = sequence.Sampler.Sample(logits, CollectionsMarshal.AsSpan(sequence.History));
        float logSum = job.Logprobs ? LogSumExp(logits) : 0;
        float logProbability = job.Logprobs ? logits[token] - logSum : 0;
        var top = job.Logprobs && job.TopLogprobs > 0 ? TopLogprobs(logits, job.TopLogprobs, logSum) : null;
        sequence.Generated++;
        long now = Stopwatch.GetTimestamp();
        if (sequence.Generated == 1)
            _observer?.TimeToFirstToken(Stopwatch.GetElapsedTime(sequence.Admitted, now));
        else
            _observer?.InterTokenLatency(Stopwatch.GetElapsedTime(sequence.LastToken, now));
        sequence.LastToken = now;

        if (!job.Options.IgnoreEndOfGeneration && _model.EndOfGenerationTokens.Contains(token))
        {
            Finish(sequence, FinishReason.Stop);
            return;
        }
        job.Constraint?.Accept(token);
        string text = sequence.Stops.Push(sequence.Decoder.Append(token));
        sequence.Output.Writer.TryWrite(new GeneratedToken(text, token, null, sequence.Layout.Rows, sequence.Generated)
        {
            LogProbability = logProbability,
            TopLogprobs = top,
            CachedPromptTokens = sequence.CachedPromptTokens,
        });
        if (sequence.Stops.Stopped)
            Finish(sequence, FinishReason.Stop);
        else if (sequence.Generated >= job.Options.MaxTokens || sequence.State!.Length >= ContextLength)
            Finish(sequence, FinishReason.Length);
        else
            sequence.NextToken = token;
    }

    void Finish(Sequence sequence, FinishReason reason)
    {
        string rest = sequence.Stops.Stopped ? "" : sequence.Stops.Push(sequence.Decoder.Flush()) + sequence.Stops.Flush();
        sequence.Output.Writer.TryWrite(new GeneratedToken(rest, null, reason, sequence.Layout.Rows, sequence.Generated)
        {
            CachedPromptTokens = sequence.CachedPromptTokens,
        });
        sequence.Output.Writer.TryComplete();
        sequence.Finished = true;
        _blocks.Release(sequence.Blocks);
        _observer?.Finished(sequence.Layout.Rows, sequence.Generated);
        var generated = CollectionsMarshal.AsSpan(sequence.History)[sequence.Job.Prompt.Count..];
        long[] key = [.. sequence.Layout.Keys, .. generated.ToArray().Select(token => (long)token)];
        _prefixes.Add(sequence.State!, key, sequence.Rewindable);
        sequence.State = null;
    }

    void Fail(Sequence sequence, Exception error)
    {
        sequence.State?.Dispose();
        sequence.State = null;
        if (sequence.HasBlocks)
            _blocks.Release(sequence.Blocks);
        sequence.HasBlocks = false;
        sequence.Finished = true;
        sequence.Output.Writer.TryComplete(error);
    }

    static float LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits)
            sum += Math.Exp(l - max);
        return max + (float)Math.Log(sum);
    }

    static TokenLogprob[] TopLogprobs(ReadOnlySpan<float> logits, int count, float logSum)
    {
        var best = new List<int>(count + 1);
        for (int id = 0; id < logits.Length; id++)
        {
            if (float.IsNegativeInfinity(logits[id]) || (best.Count == count && logits[id] <= logits[best[^1]]))
                continue;
            int at = best.Count;
            while (at > 0 && logits[best[at - 1]] < logits[id])
                at--;
            best.Insert(at, id);
            if (best.Count > count)
                best.RemoveAt(count);
        }
        var top = new TokenLogprob[best.Count];
        for (int i = 0; i < top.Length; i++)
            top[i] = new TokenLogprob(best[i], logits[best[i]] - logSum);
        return top;
    }

    /// <summary>Bytes of KV cache one token position takes: keys and values of every attention layer, f32.</summary>
    static long KvBytesPerToken(LanguageModel model)
    {
        var config = TransformerConfig.FromMetadata(model.Source.Metadata);
        int attentionLayers = model.Source.TensorNames.Count(name => name.StartsWith("blk.", StringComparison.Ordinal) && name.EndsWith(".attn_k.weight", StringComparison.Ordinal));
        return Math.Max(1, (long)attentionLayers * config.KvHeadCount * (config.HeadDim + config.ValueHeadDim) * sizeof(float));
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <summary>
    /// Where a prompt's images are and what the prefix cache compares: one key per prompt id, the token id itself, or for
    /// an image slot a negative key hashed from the image's embedding (so only the same image matches), and the rows the
    /// prompt takes in the sequence (an image slot stands for all its rows).
    /// </summary>
    sealed record PromptLayout(long[] Keys, int[] ImageAt, int Rows)
    {
        public static PromptLayout Of(GenerationJob job, int imageSlot)
        {
            var prompt = job.Prompt;
            var keys = new long[prompt.Count];
            var imageAt = new int[prompt.Count];
            int images = 0, rows = prompt.Count;
            for (int i = 0; i < prompt.Count; i++)
            {
                imageAt[i] = -1;
                keys[i] = prompt[i];
                if (job.Images.Count == 0 || prompt[i] != imageSlot)
                    continue;
                if (images == job.Images.Count)
                    throw new ArgumentException($"the prompt has more image slots than the {job.Images.Count} images given", nameof(job));
                var image = job.Images[images];
                imageAt[i] = images++;
                keys[i] = ImageKey(image);
                rows += image.TokenCount - 1;
            }
            if (images != job.Images.Count)
                throw new ArgumentException($"the prompt has {images} image slots but {job.Images.Count} images were given", nameof(job));
            if (imageAt[^1] >= 0)
                throw new ArgumentException("the prompt must not end with an image", nameof(job));
            return new PromptLayout(keys, imageAt, rows);
        }

        static long ImageKey(ImageEmbedding image)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(BitConverter.GetBytes(image.GridWidth));
            hash.AppendData(BitConverter.GetBytes(image.GridHeight));
            hash.AppendData(MemoryMarshal.AsBytes(image.Embeddings.AsSpan()));
            Span<byte> digest = stackalloc byte[32];
            hash.GetHashAndReset(digest);
            return BitConverter.ToInt64(digest) | long.MinValue;
        }
    }

    sealed class Sequence(GenerationJob job, PromptLayout layout, Sampler sampler, StreamingTokenDecoder decoder, int blocks, bool rewindable)
    {
        readonly int[] _snapshots = rewindable ? [] : [.. job.SnapshotPoints.Where(p => p > 0 && p < job.Prompt.Count).Distinct().Order()];

        public GenerationJob Job => job;
        public PromptLayout Layout => layout;
        /// <summary>Whether the finished state can be cut back to any prefix (attention-only text), or only extended.</summary>
        public bool Rewindable => rewindable;
        /// <summary>The first prompt length after <paramref name="prefilled"/> at which a copy of the state is cached, if any.</summary>
        public int NextSnapshot(int prefilled) => _snapshots.FirstOrDefault(point => point > prefilled, int.MaxValue);
        public Sampler Sampler => sampler;
        public StreamingTokenDecoder Decoder => decoder;
        public StopStringFilter Stops { get; } = new(job.Options.Stop);
        public Channel<GeneratedToken> Output { get; } = Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
        public int Blocks => blocks;
        public bool HasBlocks { get; set; }
        public SequenceState? State { get; set; }
        /// <summary>Tokens in the state or in the batch being computed: prompt, then generated.</summary>
        public List<int> History { get; } = [];
        public int Prefilled { get; set; }
        public int CachedPromptTokens { get; set; }
        public int Generated { get; set; }
        public int NextToken { get; set; }
        public bool Decoding => Generated > 0;
        public long Admitted { get; set; }
        public long LastToken { get; set; }
        public bool Finished { get; set; }
        public volatile bool Cancelled;
    }
}

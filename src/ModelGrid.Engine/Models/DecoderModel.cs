using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Models.Blocks;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models;

/// <summary>One pre-norm residual layer: x += mixer(norm(x)); x += ffn(norm(x)).</summary>
public sealed record DecoderLayer(float[] MixerNorm, ITokenMixer Mixer, float[] FeedForwardNorm, IFeedForward FeedForward);

/// <summary>
/// A decoder-only language model: embeddings, a stack of <see cref="DecoderLayer"/>s, a final norm and the output
/// projection. Architectures differ only in the layers they build; the forward pass reads top to bottom here.
/// </summary>
public sealed unsafe class DecoderModel : IDisposable
{
    readonly WeightTensor _embeddings;
    readonly DecoderLayer[] _layers;
    readonly float[] _outputNorm;
    readonly WeightTensor _output;
    readonly float _normEpsilon;
    readonly MatMul _matMul;
    readonly ForwardContext _context;
    readonly NativeBuffer<float> _x = new();
    readonly NativeBuffer<float> _normed = new();
    readonly NativeBuffer<float> _delta = new();
    readonly object _forwardLock = new();
    readonly RangeStep _normalizeRows;
    readonly RangeStep _addResidualRows;

    public DecoderModel(string architecture, int contextLength, WeightTensor embeddings, IEnumerable<DecoderLayer> layers,
        float[] outputNorm, WeightTensor output, float normEpsilon, int threads)
    {
        Architecture = architecture;
        ContextLength = contextLength;
        _embeddings = embeddings;
        _layers = layers.ToArray();
        _outputNorm = outputNorm;
        _output = output;
        _normEpsilon = normEpsilon;
        _matMul = new MatMul(new WorkerPool(threads));
        _context = new ForwardContext(_matMul);
        _normalizeRows = NormalizeRows;
        _addResidualRows = AddResidualRows;
        EmbeddingLength = embeddings.RowLength;
        RecurrentStateBytes = _layers.Sum(layer => layer.Mixer is GatedDeltaNet recurrent ? recurrent.StateBytes : 0);
        VocabSize = (int)output.RowCount;
        if (outputNorm.Length != EmbeddingLength || output.RowLength != EmbeddingLength)
            throw new ModelFormatException($"output norm ({outputNorm.Length}) or output projection ({output.RowLength}) width differs from the embedding width {EmbeddingLength}");
    }

    public string Architecture { get; }
    public int ContextLength { get; }
    public int EmbeddingLength { get; }
    public int VocabSize { get; }
    public int LayerCount => _layers.Length;

    /// <summary>Bytes of the fixed-size recurrent state one sequence holds (Gated DeltaNet layers); 0 for attention-only models.</summary>
    public long RecurrentStateBytes { get; }
    public int Threads => _matMul.Pool.ThreadCount;

    public SequenceState CreateSequence(int? contextLength = null) =>
        new(_layers.Length, Math.Min(contextLength ?? ContextLength, ContextLength));

    /// <summary>
    /// Runs the batch and writes the logits of its <see cref="ForwardBatch.LogitTokens"/> to
    /// <paramref name="logits"/> (LogitRows × VocabSize); afterwards every sequence holds its new tokens.
    /// </summary>
    public void Forward(ForwardBatch batch, Span<float> logits) => Run(batch, logits, projectToVocabulary: true);

    /// <summary>
    /// Runs the batch like <see cref="Forward"/> but writes the final-normed hidden states of its
    /// <see cref="ForwardBatch.LogitTokens"/> (LogitRows × EmbeddingLength) instead of logits: what embedding models pool.
    /// </summary>
    public void ForwardHiddenStates(ForwardBatch batch, Span<float> hidden) => Run(batch, hidden, projectToVocabulary: false);

    void Run(ForwardBatch batch, Span<float> output, bool projectToVocabulary)
    {
        int n = batch.Count, width = EmbeddingLength;
        int rowLength = projectToVocabulary ? VocabSize : width;
        if (output.Length < batch.LogitRows * rowLength)
            throw new ArgumentException($"the output holds {output.Length} values; {batch.LogitRows} rows of {rowLength} are needed", nameof(output));
        lock (_forwardLock)
        {
            try
            {
                _x.EnsureCapacity((long)n * width);
                _normed.EnsureCapacity((long)n * width);
                _delta.EnsureCapacity((long)n * width);
                _context.Batch = batch;
                Embed(batch);
                for (int l = 0; l < _layers.Length; l++)
                {
                    var layer = _layers[l];
                    Normalize(layer.MixerNorm, n);
                    layer.Mixer.Forward(_context, _normed, _delta);
                    AddResidual(n);
                    Normalize(layer.FeedForwardNorm, n);
                    layer.FeedForward.Forward(_context, _normed, _delta);
                    AddResidual(n);
                    AddDeepstack(batch, l);
                }

                var logitTokens = batch.LogitTokens;
                for (int i = 0; i < logitTokens.Count; i++)
                    Kernels.RmsNorm(Row(_x, logitTokens[i]), _outputNorm, _normEpsilon, Row(_normed, i));
                if (projectToVocabulary)
                    fixed (float* logits = output)
                        _matMul.Multiply(_output, _normed.Pointer, logitTokens.Count, logits, VocabSize);
                else
                    _normed.Slice(0, logitTokens.Count * width).CopyTo(output);
                batch.Commit();
            }
            finally
            {
                batch.Clear();
                _context.Batch = null!;
            }
        }
    }

    void Embed(ForwardBatch batch)
    {
        for (int t = 0; t < batch.Count; t++)
        {
            if (batch.Embedding(t) is var (values, offset, width))
            {
                if (width < EmbeddingLength || width % EmbeddingLength != 0)
                    throw new ArgumentException($"embedding rows of {width} values do not fit the model width {EmbeddingLength}", nameof(batch));
                values.AsSpan(offset, EmbeddingLength).CopyTo(Row(_x, t));
                continue;
            }
            int token = batch.Token(t);
            if ((uint)token >= (uint)_embeddings.RowCount)
                throw new ArgumentOutOfRangeException(nameof(batch), $"token id {token} is outside the vocabulary (0..{_embeddings.RowCount - 1})");
            _embeddings.DequantizeRow(token, Row(_x, t));
        }
    }

    /// <summary>
    /// Qwen3-VL deepstack: an image row carries extra feature blocks after its input embedding; block k is added to
    /// the hidden state after layer k.
    /// </summary>
    void AddDeepstack(ForwardBatch batch, int layer)
    {
        for (int t = 0; t < batch.Count; t++)
        {
            if (batch.Embedding(t) is not var (values, offset, width) || (layer + 2) * EmbeddingLength > width)
                continue;
            int start = offset + (layer + 1) * EmbeddingLength;
            var x = Row(_x, t);
            TensorPrimitives.Add(x, values.AsSpan(start, EmbeddingLength), x);
        }
    }

    Span<float> Row(NativeBuffer<float> buffer, int token) => buffer.Slice((long)token * EmbeddingLength, EmbeddingLength);

    void Normalize(float[] weight, int n)
    {
        _normWeight = weight;
        _matMul.Pool.RunRanges(n, _normalizeRows);
    }

    float[] _normWeight = [];

    void NormalizeRows(int first, int count)
    {
        for (int t = first; t < first + count; t++)
            Kernels.RmsNorm(Row(_x, t), _normWeight, _normEpsilon, Row(_normed, t));
    }

    void AddResidual(int n) => _matMul.Pool.RunRanges(n, _addResidualRows);

    void AddResidualRows(int first, int count)
    {
        var x = _x.Slice((long)first * EmbeddingLength, count * EmbeddingLength);
        TensorPrimitives.Add(x, _delta.Slice((long)first * EmbeddingLength, count * EmbeddingLength), x);
    }

    public void Dispose()
    {
        foreach (var layer in _layers)
        {
            (layer.Mixer as IDisposable)?.Dispose();
            (layer.FeedForward as IDisposable)?.Dispose();
        }
        _matMul.Pool.Dispose();
        _matMul.Dispose();
        _context.Dispose();
        _x.Dispose();
        _normed.Dispose();
        _delta.Dispose();
    }
}

using System.Buffers;
using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>
/// The projections of grouped-query attention; biases (Qwen2) and per-head q/k RMSNorm (Qwen3) are optional. With
/// <see cref="GatedOutput"/> (Qwen3.5) the query projection is twice as wide, each head's query followed by its gate,
/// and the attention output is multiplied by sigmoid(gate) before the output projection.
/// </summary>
public sealed record AttentionWeights(
    WeightTensor Query, WeightTensor Key, WeightTensor Value, WeightTensor Output,
    float[]? QueryBias = null, float[]? KeyBias = null, float[]? ValueBias = null,
    float[]? QueryNorm = null, float[]? KeyNorm = null, bool GatedOutput = false);

/// <summary>
/// Causal grouped-query attention with RoPE over each sequence's KV cache. All tokens of the batch are projected
/// together (one read of each weight), their keys and values stored, then each (token, head) attends to the
/// positions up to its own.
/// </summary>
public sealed unsafe class Attention(
    int layer, AttentionWeights weights, int heads, int kvHeads, int headDim, int valueDim, Rope rope, float normEpsilon)
    : ITokenMixer, IParallelWork
{
    NativeBuffer<float> _query = null!;
    NativeBuffer<float> _key = null!;
    NativeBuffer<float> _value = null!;
    NativeBuffer<float> _mixed = null!;
    NativeBuffer<float> _queryAndGate = null!;
    NativeBuffer<float> _gate = null!;
    ForwardBatch _batch = null!;
    readonly List<int> _blockStarts = [];

    // Rows of one sequence that attend together: enough to reuse each loaded key/value row, few enough to keep work
    // items for both threads in short prompts.
    const int RowsPerBlock = 16;

    public void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output)
    {
        _query = context.Scratch[ScratchSlot.Query];
        _key = context.Scratch[ScratchSlot.Key];
        _value = context.Scratch[ScratchSlot.Value];
        _mixed = context.Scratch[ScratchSlot.AttentionOutput];
        _queryAndGate = context.Scratch[ScratchSlot.QueryAndGate];
        _gate = context.Scratch[ScratchSlot.AttentionGate];
        var batch = context.Batch;
        int n = batch.Count;
        int qWidth = heads * headDim, kWidth = kvHeads * headDim, vWidth = kvHeads * valueDim;
        _query.EnsureCapacity((long)n * qWidth);
        _key.EnsureCapacity((long)n * kWidth);
        _value.EnsureCapacity((long)n * vWidth);
        _mixed.EnsureCapacity((long)n * heads * valueDim);
        if (weights.GatedOutput)
            _queryAndGate.EnsureCapacity((long)n * qWidth * 2);
        context.MatMul.Multiply(input.Pointer, n,
            new MatMulTarget(weights.Query, weights.GatedOutput ? _queryAndGate : _query),
            new MatMulTarget(weights.Key, _key),
            new MatMulTarget(weights.Value, _value));
        if (weights.GatedOutput)
            SplitGatedQuery(n);

        _batch = batch;
        // Cache pages come from a shared pool, so they are taken here; the rows then run in parallel.
        for (int t = 0; t < n; t++)
            Cache(batch.Sequence(t)).EnsurePosition(batch.Position(t));
        context.Pool.RunRanges(n, _prepareRows ??= PrepareRows);
        PlanBlocks(batch);
        context.Pool.Run(this, (_blockStarts.Count - 1) * kvHeads);
        _batch = null!;
        if (weights.GatedOutput)
        {
            var mixed = _mixed.Slice(0, n * heads * valueDim);
            var gate = _gate.Slice(0, n * heads * valueDim);
            TensorPrimitives.Sigmoid(gate, gate);
            TensorPrimitives.Multiply(mixed, gate, mixed);
        }
        context.MatMul.Multiply(weights.Output, _mixed, n, output);
    }

    RangeStep? _prepareRows;

    /// <summary>Biases, q/k norms and RoPE of rows first..first+count-1, and their keys and values into the cache.</summary>
    void PrepareRows(int first, int count)
    {
        int qWidth = heads * headDim, kWidth = kvHeads * headDim, vWidth = kvHeads * valueDim;
        for (int t = first; t < first + count; t++)
        {
            var q = _query.Slice((long)t * qWidth, qWidth);
            var k = _key.Slice((long)t * kWidth, kWidth);
            var v = _value.Slice((long)t * vWidth, vWidth);
            if (weights.QueryBias is { } qb) TensorPrimitives.Add(q, qb, q);
            if (weights.KeyBias is { } kb) TensorPrimitives.Add(k, kb, k);
            if (weights.ValueBias is { } vb) TensorPrimitives.Add(v, vb, v);
            if (weights.QueryNorm is { } qn) NormalizeHeads(q, qn);
            if (weights.KeyNorm is { } kn) NormalizeHeads(k, kn);
            int position = _batch.Position(t);
            rope.Apply(q, k, headDim, _batch.RopePosition(t));

            var cache = Cache(_batch.Sequence(t));
            cache.StoreKey(position, k);
            v.CopyTo(new Span<float>(cache.Value(position), vWidth));
        }
    }

    /// <summary>Splits the per-head interleaved [q_0 | g_0 | q_1 | g_1 …] projection into queries and gates.</summary>
    void SplitGatedQuery(int n)
    {
        _gate.EnsureCapacity((long)n * heads * headDim);
        for (int t = 0; t < n; t++)
            for (int h = 0; h < heads; h++)
            {
                long source = ((long)t * heads + h) * headDim * 2, target = ((long)t * heads + h) * headDim;
                _queryAndGate.Slice(source, headDim).CopyTo(_query.Slice(target, headDim));
                _queryAndGate.Slice(source + headDim, headDim).CopyTo(_gate.Slice(target, headDim));
            }
    }

    KvCache Cache(SequenceState sequence) =>
        sequence.LayerState(layer, () => new KvCache(kvHeads * headDim, kvHeads * valueDim, sequence.ContextLength));

    void NormalizeHeads(Span<float> vector, float[] weight)
    {
        for (int start = 0; start < vector.Length; start += headDim)
        {
            var head = vector.Slice(start, headDim);
            Kernels.RmsNorm(head, weight, normEpsilon, head);
        }
    }

    /// <summary>
    /// Splits the batch into blocks of up to <see cref="RowsPerBlock"/> consecutive rows of one sequence at consecutive
    /// positions (a prompt chunk gives full blocks, a decode step blocks of one).
    /// </summary>
    void PlanBlocks(ForwardBatch batch)
    {
        _blockStarts.Clear();
        for (int t = 0; t < batch.Count; t++)
        {
            bool continues = t > 0 && t - _blockStarts[^1] < RowsPerBlock && batch.Sequence(t) == batch.Sequence(t - 1)
                && batch.Position(t) == batch.Position(t - 1) + 1;
            if (!continues)
                _blockStarts.Add(t);
        }
        _blockStarts.Add(batch.Count);
    }

    /// <summary>
    /// One (block of rows, KV head): for each row and each query head of the group, softmax(q·K/√d)·V over positions
    /// up to the row's own, as two small matrix products per cache page (scores = Q·Kᵀ, output = P·V) so that each
    /// loaded key and value feeds a register tile of queries; a decoding step is a block of one row.
    /// </summary>
    void IParallelWork.Execute(int item)
    {
        int block = item / kvHeads, kvHead = item % kvHeads, group = heads / kvHeads;
        int first = _blockStarts[block], rows = _blockStarts[block + 1] - first;
        int firstPosition = _batch.Position(first), length = firstPosition + rows;
        var cache = Cache(_batch.Sequence(first));
        int queries = rows * group;
        float[] rented = ArrayPool<float>.Shared.Rent(queries * (length + Math.Max(headDim, valueDim)));
        fixed (float* scratch = rented)
        {
            float* scores = scratch;
            ScoresByPages(scratch + queries * length, first, rows, kvHead, cache, length, scores);
            // Row r sees positions 0..firstPosition + r; the scores past that (computed by the page products) weigh nothing.
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < group; g++)
                {
                    var row = new Span<float>(scores + (r * group + g) * length, length);
                    Kernels.Softmax(row[..(firstPosition + r + 1)]);
                    row[(firstPosition + r + 1)..].Clear();
                }
            ValuesByPages(scratch + queries * length, first, rows, kvHead, cache, length, scores);
        }
        ArrayPool<float>.Shared.Return(rented);
    }

    float* GroupQueries(int token, int kvHead) => _query.Pointer + ((long)token * heads + kvHead * (heads / kvHeads)) * headDim;

    float* GroupOutputs(int token, int kvHead) => _mixed.Pointer + ((long)token * heads + kvHead * (heads / kvHeads)) * valueDim;

    /// <summary>scores (queries × length) = (Q/√d)·Kᵀ, page by page (key pages are stored transposed).</summary>
    void ScoresByPages(float* scratch, int first, int rows, int kvHead, KvCache cache, int length, float* scores)
    {
        int group = heads / kvHeads, queries = rows * group;
        float* q = scratch;
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(GroupQueries(first + r, kvHead), group * headDim), 1f / MathF.Sqrt(headDim),
                new Span<float>(q + r * group * headDim, group * headDim));
        new Span<float>(scores, queries * length).Clear();
        for (int start = 0; start < length; start += KvCache.PagePositions)
        {
            int count = Math.Min(KvCache.PagePositions, length - start);
            float* keys = cache.KeyPage(start) + (long)kvHead * headDim * KvCache.PagePositions;
            SmallMatrix.MultiplyAdd(new ReadOnlySpan<float>(q, queries * headDim), headDim,
                new ReadOnlySpan<float>(keys, (headDim - 1) * KvCache.PagePositions + count), KvCache.PagePositions,
                new Span<float>(scores + start, (queries - 1) * length + count), length, queries, headDim, count);
        }
    }

    /// <summary>outputs = P·V, page by page, for the block's queries.</summary>
    void ValuesByPages(float* scratch, int first, int rows, int kvHead, KvCache cache, int length, float* scores)
    {
        int group = heads / kvHeads, queries = rows * group, valueStride = kvHeads * valueDim;
        float* output = scratch;
        new Span<float>(output, queries * valueDim).Clear();
        for (int start = 0; start < length; start += KvCache.PagePositions)
        {
            int count = Math.Min(KvCache.PagePositions, length - start);
            SmallMatrix.MultiplyAdd(new ReadOnlySpan<float>(scores + start, (queries - 1) * length + count), length,
                new ReadOnlySpan<float>(cache.Value(start) + kvHead * valueDim, (count - 1) * valueStride + valueDim), valueStride,
                new Span<float>(output, queries * valueDim), valueDim, queries, count, valueDim);
        }
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<float>(output + r * group * valueDim, group * valueDim).CopyTo(new Span<float>(GroupOutputs(first + r, kvHead), group * valueDim));
    }
}

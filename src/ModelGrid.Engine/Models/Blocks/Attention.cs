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

        for (int t = 0; t < n; t++)
        {
            var q = _query.Slice((long)t * qWidth, qWidth);
            var k = _key.Slice((long)t * kWidth, kWidth);
            var v = _value.Slice((long)t * vWidth, vWidth);
            if (weights.QueryBias is { } qb) TensorPrimitives.Add(q, qb, q);
            if (weights.KeyBias is { } kb) TensorPrimitives.Add(k, kb, k);
            if (weights.ValueBias is { } vb) TensorPrimitives.Add(v, vb, v);
            if (weights.QueryNorm is { } qn) NormalizeHeads(q, qn);
            if (weights.KeyNorm is { } kn) NormalizeHeads(k, kn);
            int position = batch.Position(t);
            rope.Apply(q, headDim, batch.RopePosition(t));
            rope.Apply(k, headDim, batch.RopePosition(t));

            var cache = Cache(batch.Sequence(t));
            cache.EnsurePosition(position);
            k.CopyTo(new Span<float>(cache.Key(position), kWidth));
            v.CopyTo(new Span<float>(cache.Value(position), vWidth));
        }

        _batch = batch;
        context.Pool.Run(this, n * kvHeads);
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
    /// One (token, KV head) pair: for each query head of the group, softmax(q·K/√d)·V over positions 0..position.
    /// The group's query heads are computed together so that each cached key and value row is read once.
    /// </summary>
    void IParallelWork.Execute(int item)
    {
        int t = item / kvHeads, kvHead = item % kvHeads, group = heads / kvHeads;
        int length = _batch.Position(t) + 1;
        var cache = Cache(_batch.Sequence(t));
        float* queries = _query.Pointer + (long)t * heads * headDim + (long)kvHead * group * headDim;
        float* outputs = _mixed.Pointer + (long)t * heads * valueDim + (long)kvHead * group * valueDim;
        float scale = 1f / MathF.Sqrt(headDim);

        float[] rented = ArrayPool<float>.Shared.Rent(length * group);
        var scores = rented.AsSpan(0, length * group);
        fixed (float* scoreBase = scores)
        {
            for (int j = 0; j < length; j++)
            {
                float* key = cache.Key(j) + kvHead * headDim;
                for (int g = 0; g < group; g++)
                    scoreBase[g * length + j] = VectorMath.Dot(queries + g * headDim, key, headDim) * scale;
            }
            for (int g = 0; g < group; g++)
                Kernels.Softmax(scores.Slice(g * length, length));
            new Span<float>(outputs, group * valueDim).Clear();
            for (int j = 0; j < length; j++)
            {
                float* value = cache.Value(j) + kvHead * valueDim;
                for (int g = 0; g < group; g++)
                    VectorMath.MultiplyAdd(outputs + g * valueDim, value, scoreBase[g * length + j], valueDim);
            }
        }
        ArrayPool<float>.Shared.Return(rented);
    }
}

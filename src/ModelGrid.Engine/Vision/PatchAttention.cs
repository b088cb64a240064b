using ModelGrid.Engine.Compute;
using System.Numerics.Tensors;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// Full (bidirectional) multi-head attention over the patches of one image, reading queries, keys and values from a
/// fused projection laid out per patch as [q heads | k heads | v heads]. Per head, the keys are gathered transposed and
/// the values as rows once; then each work item takes a few queries through two small matrix products with
/// <see cref="SmallMatrix"/>'s register tiles — scores = Q·Kᵀ, a softmax per query, output = P·V — so no tile ends in
/// horizontal sums. Query blocks bound the score buffer (a large image has tens of thousands of patches).
/// </summary>
internal sealed unsafe class PatchAttention(WorkerPool pool) : IParallelWork, IDisposable
{
    const int QueryBlock = 256;
    const int QueriesPerItem = 16;

    readonly NativeBuffer<float> _queries = new();
    readonly NativeBuffer<float> _transposedKeys = new();
    readonly NativeBuffer<float> _values = new();
    readonly NativeBuffer<float> _scores = new();
    readonly NativeBuffer<float> _blockOutput = new();
    int _patches;
    int _headDim;
    int _queryCount;

    /// <param name="qkv">patches rows of 3 · heads · headDim values.</param>
    /// <param name="output">patches rows of heads · headDim values: each head's output in its columns.</param>
    public void Run(float* qkv, int patches, int heads, int headDim, float* output)
    {
        int width = heads * headDim, stride = 3 * width;
        int block = Math.Min(QueryBlock, patches);
        float scale = 1f / MathF.Sqrt(headDim);
        _patches = patches;
        _headDim = headDim;
        _queries.EnsureCapacity((long)block * headDim);
        _transposedKeys.EnsureCapacity((long)headDim * patches);
        _values.EnsureCapacity((long)patches * headDim);
        _scores.EnsureCapacity((long)block * patches);
        _blockOutput.EnsureCapacity((long)block * headDim);
        float* queries = _queries.Pointer, keys = _transposedKeys.Pointer, values = _values.Pointer, blockOutput = _blockOutput.Pointer;

        for (int head = 0; head < heads; head++)
        {
            int column = head * headDim;
            for (int j = 0; j < patches; j++)
            {
                float* source = qkv + (long)j * stride + column;
                for (int c = 0; c < headDim; c++)
                    keys[(long)c * patches + j] = source[width + c];
                new ReadOnlySpan<float>(source + 2 * width, headDim).CopyTo(new Span<float>(values + (long)j * headDim, headDim));
            }
            for (int first = 0; first < patches; first += block)
            {
                int count = Math.Min(block, patches - first);
                for (int i = 0; i < count; i++)
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(qkv + (long)(first + i) * stride + column, headDim), scale,
                        new Span<float>(queries + (long)i * headDim, headDim));
                _queryCount = count;
                pool.Run(this, (count + QueriesPerItem - 1) / QueriesPerItem);
                for (int i = 0; i < count; i++)
                    new ReadOnlySpan<float>(blockOutput + (long)i * headDim, headDim).CopyTo(new Span<float>(output + (long)(first + i) * width + column, headDim));
            }
        }
    }

    /// <summary>Queries item·16 .. item·16 + 15 of the block: their scores, softmax and weighted values.</summary>
    void IParallelWork.Execute(int item)
    {
        int first = item * QueriesPerItem, count = Math.Min(QueriesPerItem, _queryCount - first);
        int patches = _patches, headDim = _headDim;
        var scores = new Span<float>(_scores.Pointer + (long)first * patches, count * patches);
        var output = new Span<float>(_blockOutput.Pointer + (long)first * headDim, count * headDim);
        scores.Clear();
        SmallMatrix.MultiplyAdd(new ReadOnlySpan<float>(_queries.Pointer + (long)first * headDim, count * headDim), headDim,
            new ReadOnlySpan<float>(_transposedKeys.Pointer, headDim * patches), patches, scores, patches, count, headDim, patches);
        for (int i = 0; i < count; i++)
            VisionKernels.Softmax(scores.Slice(i * patches, patches));
        output.Clear();
        SmallMatrix.MultiplyAdd(scores, patches, new ReadOnlySpan<float>(_values.Pointer, patches * headDim), headDim, output, headDim, count, patches, headDim);
    }

    public void Dispose()
    {
        foreach (var buffer in new[] { _queries, _transposedKeys, _values, _scores, _blockOutput })
            buffer.Dispose();
    }
}

using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// Full (bidirectional) multi-head attention over the patches of one image, reading queries, keys and values from a
/// fused projection laid out per patch as [q heads | k heads | v heads]. Per head and block of queries it is two
/// matrix products on <see cref="PatchMatMul"/>'s register tiles: the scores, with the head's keys as the weight rows
/// and the (pre-scaled) queries as the inputs, then — after a softmax per query — the output transposed, with the
/// probability rows as the weight rows and the transposed values as the inputs. Query blocks bound the score buffer
/// (a large image has tens of thousands of patches).
/// </summary>
internal sealed unsafe class PatchAttention(WorkerPool pool, PatchMatMul matMul) : IParallelWork, IDisposable
{
    const int QueryBlock = 256;

    readonly NativeBuffer<float> _queries = new();
    readonly NativeBuffer<float> _keys = new();
    readonly NativeBuffer<float> _transposedValues = new();
    readonly NativeBuffer<float> _scores = new();
    readonly NativeBuffer<float> _transposedOutput = new();
    int _patches;

    /// <param name="qkv">patches rows of 3 · heads · headDim values.</param>
    /// <param name="output">patches rows of heads · headDim values: each head's output in its columns.</param>
    public void Run(float* qkv, int patches, int heads, int headDim, float* output)
    {
        int width = heads * headDim, stride = 3 * width;
        int block = Math.Min(QueryBlock, patches);
        float scale = 1f / MathF.Sqrt(headDim);
        _patches = patches;
        _queries.EnsureCapacity((long)block * headDim);
        _keys.EnsureCapacity((long)patches * headDim);
        _transposedValues.EnsureCapacity((long)headDim * patches);
        _scores.EnsureCapacity((long)block * patches);
        _transposedOutput.EnsureCapacity((long)headDim * block);
        float* queries = _queries.Pointer, keys = _keys.Pointer, values = _transposedValues.Pointer, scores = _scores.Pointer, transposed = _transposedOutput.Pointer;
        var keyRows = new WeightTensor("attention keys", GgmlType.F32, [headDim, patches], (byte*)keys);

        for (int head = 0; head < heads; head++)
        {
            int column = head * headDim;
            for (int j = 0; j < patches; j++)
            {
                float* source = qkv + (long)j * stride + column;
                new ReadOnlySpan<float>(source + width, headDim).CopyTo(new Span<float>(keys + (long)j * headDim, headDim));
                for (int c = 0; c < headDim; c++)
                    values[(long)c * patches + j] = source[2 * width + c];
            }
            for (int first = 0; first < patches; first += block)
            {
                int count = Math.Min(block, patches - first);
                for (int i = 0; i < count; i++)
                    for (int c = 0; c < headDim; c++)
                        queries[(long)i * headDim + c] = qkv[(long)(first + i) * stride + column + c] * scale;
                matMul.Multiply(keyRows, queries, count, scores, patches);
                pool.Run(this, count);
                var probabilities = new WeightTensor("attention probabilities", GgmlType.F32, [patches, count], (byte*)scores);
                matMul.Multiply(probabilities, values, headDim, transposed, count);
                for (int i = 0; i < count; i++)
                    for (int c = 0; c < headDim; c++)
                        output[(long)(first + i) * width + column + c] = transposed[(long)c * count + i];
            }
        }
    }

    /// <summary>The softmax of one query's scores.</summary>
    void IParallelWork.Execute(int query) => VisionKernels.Softmax(new Span<float>(_scores.Pointer + (long)query * _patches, _patches));

    public void Dispose()
    {
        foreach (var buffer in new[] { _queries, _keys, _transposedValues, _scores, _transposedOutput })
            buffer.Dispose();
    }
}

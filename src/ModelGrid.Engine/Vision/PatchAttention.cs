using System.Buffers;
using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// Full (bidirectional) multi-head attention over the patches of one image, reading queries, keys and values from a
/// fused projection laid out per patch as [q heads | k heads | v heads]. Keys and values are first transposed per head
/// to [dimension][patch], so that both products run along the patches — hundreds long, where a head is 64 wide —
/// as a few long vector operations instead of one short one per patch. One work item per (patch, head).
/// </summary>
internal sealed unsafe class PatchAttention : IParallelWork, IDisposable
{
    readonly NativeBuffer<float> _keys = new();
    readonly NativeBuffer<float> _values = new();
    float* _qkv;
    float* _output;
    int _patches, _heads, _headDim;

    public void Run(WorkerPool pool, float* qkv, int patches, int heads, int headDim, float* output)
    {
        _qkv = qkv;
        _output = output;
        (_patches, _heads, _headDim) = (patches, heads, headDim);
        int width = heads * headDim;
        _keys.EnsureCapacity((long)width * patches);
        _values.EnsureCapacity((long)width * patches);
        for (int j = 0; j < patches; j++)
        {
            float* source = qkv + (long)j * 3 * width;
            for (int c = 0; c < width; c++)
            {
                // Column c of the keys is (head c / headDim, dimension c % headDim): row c of the transposed layout.
                _keys.Pointer[(long)c * patches + j] = source[width + c];
                _values.Pointer[(long)c * patches + j] = source[2 * width + c];
            }
        }
        pool.Run(this, patches * heads);
        _qkv = _output = null;
    }

    void IParallelWork.Execute(int item)
    {
        int patch = item / _heads, head = item % _heads, n = _patches;
        int width = _heads * _headDim, offset = head * _headDim;
        float* query = _qkv + (long)patch * 3 * width + offset;
        float* output = _output + (long)patch * width + offset;
        float scale = 1f / MathF.Sqrt(_headDim);

        float[] rented = ArrayPool<float>.Shared.Rent(n);
        var scores = rented.AsSpan(0, n);
        scores.Clear();
        for (int c = 0; c < _headDim; c++)
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_keys.Pointer + (long)(offset + c) * n, n), query[c] * scale, scores, scores);
        VisionKernels.Softmax(scores);
        for (int c = 0; c < _headDim; c++)
            output[c] = TensorPrimitives.Dot(scores, new ReadOnlySpan<float>(_values.Pointer + (long)(offset + c) * n, n));
        ArrayPool<float>.Shared.Return(rented);
    }

    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}

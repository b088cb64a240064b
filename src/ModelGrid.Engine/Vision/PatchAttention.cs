using System.Buffers;
using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// Full (bidirectional) multi-head attention over the patches of one image, reading queries, keys and values from a
/// fused projection laid out per patch as [q heads | k heads | v heads]. One work item per (patch, head).
/// </summary>
internal sealed unsafe class PatchAttention : IParallelWork
{
    float* _qkv;
    float* _output;
    int _patches, _heads, _headDim;

    public void Run(WorkerPool pool, float* qkv, int patches, int heads, int headDim, float* output)
    {
        _qkv = qkv;
        _output = output;
        (_patches, _heads, _headDim) = (patches, heads, headDim);
        pool.Run(this, patches * heads);
        _qkv = _output = null;
    }

    void IParallelWork.Execute(int item)
    {
        int patch = item / _heads, head = item % _heads;
        int width = _heads * _headDim, stride = 3 * width, offset = head * _headDim;
        var query = new ReadOnlySpan<float>(_qkv + (long)patch * stride + offset, _headDim);
        var output = new Span<float>(_output + (long)patch * width + offset, _headDim);
        float scale = 1f / MathF.Sqrt(_headDim);

        float[] rented = ArrayPool<float>.Shared.Rent(_patches);
        var scores = rented.AsSpan(0, _patches);
        for (int j = 0; j < _patches; j++)
            scores[j] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(_qkv + (long)j * stride + width + offset, _headDim)) * scale;
        Kernels.Softmax(scores);
        output.Clear();
        for (int j = 0; j < _patches; j++)
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_qkv + (long)j * stride + 2 * width + offset, _headDim), scores[j], output, output);
        ArrayPool<float>.Shared.Return(rented);
    }
}

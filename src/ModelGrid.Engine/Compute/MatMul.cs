using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Compute;

/// <summary>
/// y[t][r] = W[r] · x[t] for a batch of activation rows. Activations are encoded once per call in the form the
/// weight type's kernel consumes (e.g. Q8_0 blocks); threads split the weight rows, and each weight row is
/// reused for every token while it is in cache.
/// </summary>
public sealed unsafe class MatMul(WorkerPool pool) : IParallelWork, IDisposable
{
    const int RowsPerItem = 16;

    readonly NativeBuffer<byte> _encoded = new();
    WeightTensor _weights = null!;
    IRowKernel _kernel = null!;
    int _encodedStride;
    int _tokens;
    float* _output;
    int _outputStride;

    public WorkerPool Pool => pool;

    /// <param name="input">tokens × weights.RowLength values, row-major.</param>
    /// <param name="output">tokens rows of <paramref name="outputStride"/> values; the first RowCount of each are written.</param>
    public void Multiply(WeightTensor weights, float* input, int tokens, float* output, int outputStride)
    {
        var kernel = weights.Kernel;
        int columns = weights.RowLength;
        int stride = RowKernels.EncodedActivationBytes(kernel.Activations, columns);
        _encoded.EnsureCapacity((long)stride * tokens);
        for (int t = 0; t < tokens; t++)
            RowKernels.EncodeActivations(kernel.Activations, new ReadOnlySpan<float>(input + (long)t * columns, columns), _encoded.Slice((long)t * stride, stride));

        _weights = weights;
        _kernel = kernel;
        _encodedStride = stride;
        _tokens = tokens;
        _output = output;
        _outputStride = outputStride;
        pool.Run(this, (int)((weights.RowCount + RowsPerItem - 1) / RowsPerItem));
        _weights = null!;
        _kernel = null!;
    }

    public void Multiply(WeightTensor weights, NativeBuffer<float> input, int tokens, NativeBuffer<float> output) =>
        Multiply(weights, input.Pointer, tokens, output.Pointer, (int)weights.RowCount);

    void IParallelWork.Execute(int item)
    {
        long first = (long)item * RowsPerItem;
        long last = Math.Min(first + RowsPerItem, _weights.RowCount);
        for (long r = first; r < last; r++)
        {
            var row = _weights.Row(r);
            for (int t = 0; t < _tokens; t++)
                _output[(long)t * _outputStride + r] = _kernel.Dot(row, new ReadOnlySpan<byte>(_encoded.Pointer + (long)t * _encodedStride, _encodedStride));
        }
    }

    public void Dispose() => _encoded.Dispose();
}

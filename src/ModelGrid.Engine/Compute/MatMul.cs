using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Compute;

/// <summary>One weight matrix of a <see cref="MatMul"/> call and where its output goes (tokens rows of Stride floats).</summary>
public readonly unsafe struct MatMulTarget(WeightTensor weights, float* output, int stride)
{
    public MatMulTarget(WeightTensor weights, NativeBuffer<float> output) : this(weights, output.Pointer, (int)weights.RowCount) { }

    public WeightTensor Weights { get; } = weights;
    public float* Output { get; } = output;
    public int Stride { get; } = stride;
}

/// <summary>
/// y[t][r] = W[r] · x[t] for a batch of activation rows, for one or several weight matrices that read the same input
/// (q/k/v, gate/up). Activations are encoded once per call in each form the weight types' kernels consume (e.g. Q8_0
/// blocks); one parallel loop covers the rows of every matrix, so the threads meet once, and each weight row is reused
/// for every token while it is in cache.
/// </summary>
public sealed unsafe class MatMul(WorkerPool pool) : IParallelWork, IDisposable
{
    // Rows per work item: large enough that each thread streams long contiguous runs of weights (the hardware
    // prefetcher's best case), small enough that a preempted thread's share can still be picked up by the others.
    const int MinRowsPerItem = 16;
    const int ItemsPerThread = 4;
    const int MaxTargets = 8;
    const int TokensPerBlock = 64;

    readonly NativeBuffer<byte>[] _encoded = Enum.GetValues<ActivationEncoding>().Select(_ => new NativeBuffer<byte>()).ToArray();
    readonly MatMulTarget[] _targets = new MatMulTarget[MaxTargets];
    readonly int[] _firstItem = new int[MaxTargets + 1];
    readonly int[] _rowsPerItem = new int[MaxTargets];
    int _targetCount;
    int _tokens;
    int _columns;

    public WorkerPool Pool => pool;

    /// <param name="input">tokens × weights.RowLength values, row-major.</param>
    /// <param name="output">tokens rows of <paramref name="outputStride"/> values; the first RowCount of each are written.</param>
    public void Multiply(WeightTensor weights, float* input, int tokens, float* output, int outputStride) =>
        Multiply(input, tokens, [new MatMulTarget(weights, output, outputStride)]);

    public void Multiply(WeightTensor weights, NativeBuffer<float> input, int tokens, NativeBuffer<float> output) =>
        Multiply(weights, input.Pointer, tokens, output.Pointer, (int)weights.RowCount);

    /// <summary>Multiplies the same input by every target's weights (all with the same row length) in one parallel loop.</summary>
    public void Multiply(float* input, int tokens, params ReadOnlySpan<MatMulTarget> targets)
    {
        if (targets.Length is 0 or > MaxTargets)
            throw new ArgumentOutOfRangeException(nameof(targets), $"between 1 and {MaxTargets} weight matrices per call");
        int columns = targets[0].Weights.RowLength;
        Span<bool> encoded = stackalloc bool[_encoded.Length];
        _columns = columns;
        _firstItem[0] = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            var weights = targets[i].Weights;
            if (weights.RowLength != columns)
                throw new ArgumentException($"'{weights.Name}' rows have {weights.RowLength} values, '{targets[0].Weights.Name}' rows {columns}", nameof(targets));
            var encoding = weights.Kernel.Activations;
            if (!encoded[(int)encoding])
            {
                Encode(encoding, input, tokens);
                encoded[(int)encoding] = true;
            }
            _targets[i] = targets[i];
            int rowsPerItem = (int)Math.Max(MinRowsPerItem, weights.RowCount / (pool.ThreadCount * ItemsPerThread));
            _rowsPerItem[i] = rowsPerItem;
            _firstItem[i + 1] = _firstItem[i] + (int)((weights.RowCount + rowsPerItem - 1) / rowsPerItem);
        }
        _targetCount = targets.Length;
        _tokens = tokens;
        pool.Run(this, _firstItem[targets.Length]);
        _targets.AsSpan(0, _targetCount).Clear();
    }

    /// <summary>Encodes the tokens × <see cref="_columns"/> input as <paramref name="encoding"/>, rows split across the pool.</summary>
    void Encode(ActivationEncoding encoding, float* input, int tokens)
    {
        _encoding = encoding;
        _input = input;
        _encoded[(int)encoding].EnsureCapacity((long)RowKernels.EncodedActivationBytes(encoding, _columns) * tokens);
        pool.RunRanges(tokens, _encodeRows ??= EncodeRows);
    }

    ActivationEncoding _encoding;
    float* _input;
    RangeStep? _encodeRows;

    void EncodeRows(int first, int count)
    {
        int columns = _columns, stride = RowKernels.EncodedActivationBytes(_encoding, columns);
        var buffer = _encoded[(int)_encoding];
        for (int t = first; t < first + count; t++)
            RowKernels.EncodeActivations(_encoding, new ReadOnlySpan<float>(_input + (long)t * columns, columns), buffer.Slice((long)t * stride, stride));
    }

    void IParallelWork.Execute(int item)
    {
        int target = 0;
        while (item >= _firstItem[target + 1])
            target++;
        var destination = _targets[target];
        var weights = destination.Weights;
        float* output = destination.Output;
        int outputStride = destination.Stride;
        var kernel = weights.Kernel;
        int stride = RowKernels.EncodedActivationBytes(kernel.Activations, _columns);
        byte* activations = _encoded[(int)kernel.Activations].Pointer;
        long first = (long)(item - _firstItem[target]) * _rowsPerItem[target];
        long last = Math.Min(first + _rowsPerItem[target], weights.RowCount);
        if (_tokens == 1)
        {
            // Decoding: memory-bound, one streaming pass over the rows.
            kernel.DotRows(weights.Data + first * weights.RowBytes, weights.RowBytes, (int)(last - first), activations, output + first);
            return;
        }
        // Prompt batches: register tiles of rows × tokens, over token blocks whose encoded activations stay in L2.
        for (int t = 0; t < _tokens; t += TokensPerBlock)
            kernel.DotTile(weights.Data + first * weights.RowBytes, weights.RowBytes, (int)(last - first),
                activations + (long)t * stride, stride, Math.Min(TokensPerBlock, _tokens - t),
                output + (long)t * outputStride + first, outputStride);
    }

    public void Dispose()
    {
        foreach (var buffer in _encoded)
            buffer.Dispose();
    }
}

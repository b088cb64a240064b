using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// y[t] = W · x[t] (+ b) for the hundreds of patch rows of an image. The text model's <see cref="MatMul"/> is built for a few
/// tokens: it decodes a weight row inside every dot product. Here each work item decodes a block of weight rows to
/// float32 once and then runs every token past it with a 4-row × 3-token register tile, so each loaded weight vector
/// feeds three products and each activation vector four.
/// </summary>
internal sealed unsafe class PatchMatMul(WorkerPool pool) : IParallelWork
{
    // A work item's decoded rows and a block of tokens are sized to stay in L2 together (~256 KiB each), so every
    // activation row loaded from L3 feeds all of the item's rows: an image's activations (hundreds of KiB to MiBs)
    // are read once per item instead of once per 4-row tile.
    const int BlockBytes = 256 << 10;
    const int MinRowsPerItem = 16;
    const int MaxRowsPerItem = 64;
    const int TileRows = 4;
    const int TileTokens = 3;

    WeightTensor _weights = null!;
    float* _input;
    float* _output;
    float* _bias;
    int _tokens, _outputStride;

    /// <param name="input">tokens × weights.RowLength values, row-major.</param>
    /// <param name="output">tokens rows of <paramref name="outputStride"/> values; the first RowCount of each are written.</param>
    /// <param name="bias">RowCount values added to every output row, or null.</param>
    public void Multiply(WeightTensor weights, float* input, int tokens, float* output, int outputStride, float* bias = null)
    {
        _weights = weights;
        _input = input;
        _output = output;
        _bias = bias;
        _tokens = tokens;
        _outputStride = outputStride;
        int rowsInBlock = BlockBytes / (weights.RowLength * sizeof(float));
        _rowsPerItem = Math.Clamp(rowsInBlock / TileRows * TileRows, MinRowsPerItem, MaxRowsPerItem);
        _tokensPerBlock = Math.Max(TileTokens, rowsInBlock / TileTokens * TileTokens);
        pool.Run(this, (int)((weights.RowCount + _rowsPerItem - 1) / _rowsPerItem));
        _weights = null!;
        _input = _output = _bias = null;
    }

    int _rowsPerItem;
    int _tokensPerBlock;

    void IParallelWork.Execute(int item)
    {
        int k = _weights.RowLength;
        long first = (long)item * _rowsPerItem;
        int rows = (int)Math.Min(_rowsPerItem, _weights.RowCount - first);
        float[] rented = ArrayPool<float>.Shared.Rent(rows * k);
        fixed (float* block = rented)
        {
            for (int r = 0; r < rows; r++)
                _weights.DequantizeRow(first + r, rented.AsSpan(r * k, k));
            bool tiled = Vector256.IsHardwareAccelerated && k % Vector256<float>.Count == 0;
            int tiledRows = tiled ? rows / TileRows * TileRows : 0;
            for (int t0 = 0; t0 < _tokens; t0 += _tokensPerBlock)
            {
                int tokenEnd = Math.Min(_tokens, t0 + _tokensPerBlock);
                int tiledEnd = t0 + (tokenEnd - t0) / TileTokens * TileTokens;
                for (int r0 = 0; r0 < tiledRows; r0 += TileRows)
                {
                    for (int t = t0; t < tiledEnd; t += TileTokens)
                        Tile(block + (long)r0 * k, k, t, first + r0);
                    for (int t = tiledEnd; t < tokenEnd; t++)
                        DotRows(block, k, r0, TileRows, t, first);
                }
                for (int t = t0; t < tokenEnd; t++)
                    DotRows(block, k, tiledRows, rows - tiledRows, t, first);
            }
        }
        ArrayPool<float>.Shared.Return(rented);
    }

    /// <summary>Rows w..w+3 of the decoded block against tokens t..t+2, k a multiple of 8.</summary>
    void Tile(float* w, int k, int t, long row)
    {
        float* x0 = _input + (long)t * k, x1 = x0 + k, x2 = x1 + k;
        Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        for (int i = 0; i < k; i += Vector256<float>.Count)
        {
            var v0 = Vector256.Load(x0 + i);
            var v1 = Vector256.Load(x1 + i);
            var v2 = Vector256.Load(x2 + i);
            var w0 = Vector256.Load(w + i);
            a00 = Vector256.FusedMultiplyAdd(w0, v0, a00);
            a01 = Vector256.FusedMultiplyAdd(w0, v1, a01);
            a02 = Vector256.FusedMultiplyAdd(w0, v2, a02);
            var w1 = Vector256.Load(w + k + i);
            a10 = Vector256.FusedMultiplyAdd(w1, v0, a10);
            a11 = Vector256.FusedMultiplyAdd(w1, v1, a11);
            a12 = Vector256.FusedMultiplyAdd(w1, v2, a12);
            var w2 = Vector256.Load(w + 2 * k + i);
            a20 = Vector256.FusedMultiplyAdd(w2, v0, a20);
            a21 = Vector256.FusedMultiplyAdd(w2, v1, a21);
            a22 = Vector256.FusedMultiplyAdd(w2, v2, a22);
            var w3 = Vector256.Load(w + 3 * k + i);
            a30 = Vector256.FusedMultiplyAdd(w3, v0, a30);
            a31 = Vector256.FusedMultiplyAdd(w3, v1, a31);
            a32 = Vector256.FusedMultiplyAdd(w3, v2, a32);
        }
        float* y0 = _output + (long)t * _outputStride + row, y1 = y0 + _outputStride, y2 = y1 + _outputStride;
        float b0 = Bias(row), b1 = Bias(row + 1), b2 = Bias(row + 2), b3 = Bias(row + 3);
        y0[0] = Vector256.Sum(a00) + b0;
        y1[0] = Vector256.Sum(a01) + b0;
        y2[0] = Vector256.Sum(a02) + b0;
        y0[1] = Vector256.Sum(a10) + b1;
        y1[1] = Vector256.Sum(a11) + b1;
        y2[1] = Vector256.Sum(a12) + b1;
        y0[2] = Vector256.Sum(a20) + b2;
        y1[2] = Vector256.Sum(a21) + b2;
        y2[2] = Vector256.Sum(a22) + b2;
        y0[3] = Vector256.Sum(a30) + b3;
        y1[3] = Vector256.Sum(a31) + b3;
        y2[3] = Vector256.Sum(a32) + b3;
    }

    /// <summary>The rows the tile does not cover, one dot product each.</summary>
    void DotRows(float* block, int k, int firstRow, int count, int t, long row)
    {
        var x = new ReadOnlySpan<float>(_input + (long)t * k, k);
        float* y = _output + (long)t * _outputStride + row;
        for (int r = firstRow; r < firstRow + count; r++)
            y[r] = TensorPrimitives.Dot(new ReadOnlySpan<float>(block + (long)r * k, k), x) + Bias(row + r);
    }

    float Bias(long row) => _bias == null ? 0 : _bias[row];
}

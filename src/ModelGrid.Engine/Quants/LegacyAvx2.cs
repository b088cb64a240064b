using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// AVX2 decoding body of the 32-value formats without minimum (Q8_0, Q4_0, Q5_0) against Q8_0 activations: up to four
/// rows, each block's exact int32 dot of the four rows summed across lanes together, then per row
/// acc = fma(dot, d_w·d_a, acc) in block order. <see cref="LegacyRowGroupsAvx2{TFormat}"/> computes the same
/// operations per row, so prompt tiles, decoding rows and single dots agree bit for bit.
/// </summary>
internal readonly unsafe struct LegacyRowsAvx2<TFormat> : IRowsKernel where TFormat : struct, ILegacyFormat
{
    const int ActivationBytes = 34;

    public static void Run<TRows>(in TileArgs tile) where TRows : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a = tile.Activations;
        int weightBytes = TFormat.BlockBytes;
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < tile.Blocks; b++)
        {
            var y = Vector256.Load((sbyte*)(a + 2));
            var dots = TileShapes.SumEach(
                BlockDot(w0, y),
                TRows.Value > 1 ? BlockDot(w1, y) : default,
                TRows.Value > 2 ? BlockDot(w2, y) : default,
                TRows.Value > 3 ? BlockDot(w3, y) : default);
            var scales = Vector128.Create(Fp16.Load(w0), Fp16.Load(w1), Fp16.Load(w2), Fp16.Load(w3)) * Fp16.Load(a);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector128Single(dots), scales, acc);
            w0 += weightBytes; w1 += weightBytes; w2 += weightBytes; w3 += weightBytes;
            a += ActivationBytes;
        }
        tile.Store<TRows, One>(0, 0, acc.GetElement(0));
        tile.Store<TRows, One>(1, 0, acc.GetElement(1));
        tile.Store<TRows, One>(2, 0, acc.GetElement(2));
        tile.Store<TRows, One>(3, 0, acc.GetElement(3));
    }

    /// <summary>q·y of one block in 8 int lanes, as |q|·sign(y, q): <c>vpmaddubsw</c> takes its left side unsigned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> BlockDot(byte* block, Vector256<sbyte> y)
    {
        var q = TFormat.Quants(block).AsSByte();
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(q), Avx2.Sign(y, q)), Vector256<short>.One);
    }
}

/// <summary>
/// AVX2 prompt body of the same formats over groups of eight rows (<see cref="RowGroups"/>): q·y as |q|·sign(y, q),
/// since <c>vpmaddubsw</c> takes its left side unsigned, and per row acc = fma(dot, d_w·d_a, acc) in block order as
/// <see cref="LegacyRowsAvx2{TFormat}"/> does.
/// </summary>
internal readonly unsafe struct LegacyRowGroupsAvx2<TFormat> : IRowGroupBody where TFormat : struct, ILegacyFormat
{
    const int ActivationBytes = 34;

    // A repacked block: 8 fp32 scales d_w (rows in order), then per 8-quant chunk k a vector pair of the signed quants
    // and a vector pair of their absolute values.
    const int ChunkBytes = 4 * 32;

    public static int GroupBlockBytes => 32 + 4 * ChunkBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Repack(byte* rows, long rowBytes, int blocks, byte* scratch)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* target = scratch + b * GroupBlockBytes;
            for (int lane = 0; lane < RowGroups.Rows; lane++)
            {
                int row = RowGroups.LaneRows[lane];
                byte* block = rows + row * rowBytes + b * TFormat.BlockBytes;
                ((float*)target)[row] = Fp16.Load(block);
                var quants = TFormat.Quants(block).AsUInt64();
                for (int k = 0; k < 4; k++)
                    RowGroups.StoreLane(target + 32 + k * ChunkBytes, lane, quants.GetElement(k));
            }
            for (int k = 0; k < 4; k++)
            {
                byte* chunk = target + 32 + k * ChunkBytes;
                Avx2.Abs(Vector256.Load((sbyte*)chunk)).Store(chunk + 64);
                Avx2.Abs(Vector256.Load((sbyte*)(chunk + 32))).Store(chunk + 96);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens<TTokens>(byte* scratch, int blocks, byte* activations, long activationStride, float* output, long outputStride)
        where TTokens : struct, ITileCount
    {
        byte* a0 = activations, a1 = TTokens.Value > 1 ? activations + activationStride : activations;
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* group = scratch + b * GroupBlockBytes;
            Vector256<int> low0 = default, high0 = default, low1 = default, high1 = default;
            for (int k = 0; k < 4; k++)
            {
                byte* chunk = group + 32 + k * ChunkBytes;
                var quantsLow = Vector256.Load((sbyte*)chunk);
                var quantsHigh = Vector256.Load((sbyte*)(chunk + 32));
                var magnitudesLow = Vector256.Load(chunk + 64);
                var magnitudesHigh = Vector256.Load(chunk + 96);
                var y0 = Vector256.Create(Unsafe.ReadUnaligned<long>(a0 + 2 + 8 * k)).AsSByte();
                low0 = Step(low0, magnitudesLow, quantsLow, y0);
                high0 = Step(high0, magnitudesHigh, quantsHigh, y0);
                if (TTokens.Value > 1)
                {
                    var y1 = Vector256.Create(Unsafe.ReadUnaligned<long>(a1 + 2 + 8 * k)).AsSByte();
                    low1 = Step(low1, magnitudesLow, quantsLow, y1);
                    high1 = Step(high1, magnitudesHigh, quantsHigh, y1);
                }
            }
            var scales = Vector256.Load((float*)group);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.HorizontalAdd(low0, high0)), scales * Fp16.Load(a0), acc0);
            if (TTokens.Value > 1)
                acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.HorizontalAdd(low1, high1)), scales * Fp16.Load(a1), acc1);
            a0 += ActivationBytes;
            a1 += ActivationBytes;
        }
        acc0.Store(output);
        if (TTokens.Value > 1)
            acc1.Store(output + outputStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Step(Vector256<int> acc, Vector256<byte> magnitudes, Vector256<sbyte> quants, Vector256<sbyte> y) =>
        Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitudes, Avx2.Sign(y, quants)), Vector256<short>.One));
}

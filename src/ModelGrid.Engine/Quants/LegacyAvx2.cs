using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// AVX2 prompt body of the same formats: rows in groups of eight, each group first repacked so that one vector holds
/// the same 8 quants of four rows. A token's 8 activations, broadcast, then meet four rows in one
/// <c>vpmaddubsw</c>/<c>vpmaddwd</c> pair whose int lanes stay per row; a block's four such steps add up in int, and
/// only then is each row's dot converted and scaled, eight rows in one FMA. Per multiply-add this issues about half
/// the instructions of a register tile that keeps one 8-lane accumulator per (row, token), which on AVX2's 16
/// registers also spills. Remaining rows (fewer than eight) run the decoding body per token.
/// </summary>
internal static unsafe class LegacyRowGroupsAvx2<TFormat> where TFormat : struct, ILegacyFormat
{
    const int ActivationBytes = 34;
    const int GroupRows = 8;

    // A repacked block: 8 fp32 scales d_w, then per 8-quant chunk k the signed quants of rows (0, 1, 4, 5) and of rows
    // (2, 3, 6, 7), one row per 64-bit lane, followed by their absolute values. vphaddd of the two halves' int sums
    // then yields rows 0..7 in order.
    const int ChunkBytes = 4 * 32;
    const int GroupBlockBytes = 32 + 4 * ChunkBytes;
    static readonly int[] LaneRows = [0, 1, 4, 5, 2, 3, 6, 7];

    [ThreadStatic] static byte[]? t_scratch;

    // Fully optimized at the first call, as the other hot kernels (the methods looping over blocks stayed at tier 0).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(in TileArgs range)
    {
        int groups = range.RowCount / GroupRows;
        if (groups > 0)
        {
            int bytes = range.Blocks * GroupBlockBytes;
            if (t_scratch is null || t_scratch.Length < bytes)
                t_scratch = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
            byte* scratch = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(t_scratch));
            for (int g = 0; g < groups; g++)
            {
                Repack(range.Rows + g * GroupRows * range.RowBytes, range.RowBytes, range.Blocks, scratch);
                float* output = range.Output + g * GroupRows;
                int t = 0;
                for (; t + 2 <= range.TokenCount; t += 2)
                    Tokens<Two>(scratch, range.Blocks, range.Activations + t * range.ActivationStride, range.ActivationStride, output + t * range.OutputStride, range.OutputStride);
                if (t < range.TokenCount)
                    Tokens<One>(scratch, range.Blocks, range.Activations + t * range.ActivationStride, range.ActivationStride, output + t * range.OutputStride, range.OutputStride);
            }
        }
        int first = groups * GroupRows;
        for (int r = first; r < range.RowCount; r += TileShapes.MaxRows)
        {
            for (int t = 0; t < range.TokenCount; t++)
            {
                TileShapes.RunRows<LegacyRowsAvx2<TFormat>>(new TileArgs(
                    range.Rows + r * range.RowBytes, range.RowBytes, Math.Min(TileShapes.MaxRows, range.RowCount - r),
                    range.Activations + t * range.ActivationStride, 0, 1, range.Output + t * range.OutputStride + r, 0, range.Blocks));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Repack(byte* rows, long rowBytes, int blocks, byte* scratch)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* target = scratch + b * GroupBlockBytes;
            for (int lane = 0; lane < GroupRows; lane++)
            {
                int row = LaneRows[lane];
                byte* block = rows + row * rowBytes + b * TFormat.BlockBytes;
                ((float*)target)[row] = Fp16.Load(block);
                var quants = TFormat.Quants(block).AsUInt64();
                // Lanes 0..3 go to the first vector of each chunk, lanes 4..7 to the second.
                for (int k = 0; k < 4; k++)
                    ((ulong*)(target + 32 + k * ChunkBytes + (lane / 4) * 32))[lane % 4] = quants.GetElement(k);
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
    static void Tokens<TTokens>(byte* scratch, int blocks, byte* activations, long activationStride, float* output, long outputStride)
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

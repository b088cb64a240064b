using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// The AVX2 path of the 32-value formats whose quants need the sign trick (Q8_0: <c>vpmaddubsw</c> takes its left side
/// unsigned, so each block is |q|·sign(y, q)). Every body computes the scalar reference's form: per block an exact int32
/// dot, then sum += (d_w·d_a)·isum in block order, so single dots, decoding rows and prompt tiles give the scalar
/// reference's bits. One int sum per block instead of one float accumulator per int lane: fewer conversions and
/// multiply-adds on the prompt path, which runs at the multiply ports' speed.
/// </summary>
internal readonly unsafe struct SignedBlocksAvx2<TFormat> where TFormat : struct, ILegacyFormat
{
    const int ActivationBytes = 34;

    /// <summary>The eight int lanes of one block's |q|·sign(y, q) products (four per lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> BlockLanes(byte* block, Vector256<sbyte> y)
    {
        var quants = TFormat.Quants(block).AsSByte();
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(quants), Avx2.Sign(y, quants)), Vector256<short>.One);
    }

    /// <summary>One row against one activation vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* row, byte* activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += TFormat.BlockBytes, activations += ActivationBytes)
        {
            int isum = Vector256.Sum(BlockLanes(row, Vector256.Load((sbyte*)(activations + 2))));
            sum += Fp16.Load(row) * Fp16.Load(activations) * isum;
        }
        return sum;
    }

    /// <summary>
    /// Decoding: the range's rows four at a time against one activation vector (the four rows' block sums reduced
    /// together, the float step on all four at once); returns how many rows that was. Two rows per step decoded about
    /// as fast in a model, eight rows (with a pass per row pair) slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int DecodeQuads(in TileArgs range)
    {
        int quads = range.RowCount / 4;
        long rowBytes = range.RowBytes;
        var ahead = new ReadAhead(range.ReadAhead);
        for (int q = 0; q < quads; q++)
        {
            byte* w = range.Rows + 4 * q * rowBytes, a = range.Activations;
            var sum = Vector128<float>.Zero;
            for (int b = 0; b < range.Blocks; b++, w += TFormat.BlockBytes, a += ActivationBytes)
            {
                ahead.Step(4 * TFormat.BlockBytes);
                var y = Vector256.Load((sbyte*)(a + 2));
                // [rows 0..3's lanes 0..3 | rows 0..3's lanes 4..7], then the halves added: rows 0..3's exact sums.
                var lanes = Avx2.HorizontalAdd(
                    Avx2.HorizontalAdd(BlockLanes(w, y), BlockLanes(w + rowBytes, y)),
                    Avx2.HorizontalAdd(BlockLanes(w + 2 * rowBytes, y), BlockLanes(w + 3 * rowBytes, y)));
                var isum = lanes.GetLower() + lanes.GetUpper();
                var scales = Vector128.Create(Fp16.Load(w), Fp16.Load(w + rowBytes), Fp16.Load(w + 2 * rowBytes), Fp16.Load(w + 3 * rowBytes));
                sum += scales * Vector128.Create(Fp16.Load(a)) * Vector128.ConvertToSingle(isum);
            }
            sum.Store(range.Output + 4 * q);
        }
        return 4 * quads;
    }
}

/// <summary>
/// AVX2 prompt body of the sign-trick formats over groups of eight rows (<see cref="RowGroups"/>): a repacked 8-quant
/// chunk holds four rows (one per 64-bit lane), so a token's 8 activations, broadcast, meet four rows per
/// <c>vpmaddubsw</c>; the chunks' int lanes add up to each row's exact block sum, and the float step is
/// <see cref="SignedBlocksAvx2{TFormat}"/>'s on the eight rows at once.
/// </summary>
internal readonly unsafe struct LegacyRowGroupsAvx2<TFormat> : IRowGroupBody where TFormat : struct, ILegacyFormat
{
    const int ActivationBytes = 34;

    // A repacked block: d_w of rows 0..7 as fp32, then per 8-quant chunk k a vector pair of the signed quants of rows
    // (0, 1, 4, 5) and (2, 3, 6, 7) and a vector pair of their absolute values.
    const int ChunksAt = 32;
    const int ChunkBytes = 4 * 32;

    public static int GroupBlockBytes => ChunksAt + 4 * ChunkBytes;

    // The int products are as cheap per token as a register tile's, so groups pay for their repack from two tokens.
    public static int MinTokens => 2;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Repack(byte* rows, long rowBytes, int blocks, byte* scratch)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* target = scratch + b * GroupBlockBytes;
            long offset = (long)b * TFormat.BlockBytes;
            for (int r = 0; r < RowGroups.Rows; r++)
                ((float*)target)[r] = Fp16.Load(rows + r * rowBytes + offset);
            for (int half = 0; half < 2; half++)
            {
                byte* b0 = RowGroups.LaneBlock(rows, rowBytes, 4 * half, offset), b1 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 1, offset);
                byte* b2 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 2, offset), b3 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 3, offset);
                // Chunk k of the four rows: element k of each row's quants.
                RowGroups.StoreTransposed(TFormat.Quants(b0).AsUInt64(), TFormat.Quants(b1).AsUInt64(), TFormat.Quants(b2).AsUInt64(),
                    TFormat.Quants(b3).AsUInt64(), target + ChunksAt + half * 32, ChunkBytes);
            }
            for (int k = 0; k < 4; k++)
            {
                byte* chunk = target + ChunksAt + k * ChunkBytes;
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
        Vector256<float> sum0 = default, sum1 = default;
        for (int b = 0; b < blocks; b++, a0 += ActivationBytes, a1 += ActivationBytes)
        {
            byte* group = scratch + b * GroupBlockBytes;
            Vector256<int> low0 = default, high0 = default, low1 = default, high1 = default;
            for (int k = 0; k < 4; k++)
            {
                byte* chunk = group + ChunksAt + k * ChunkBytes;
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
            sum0 += scales * Vector256.Create(Fp16.Load(a0)) * Vector256.ConvertToSingle(Avx2.HorizontalAdd(low0, high0));
            if (TTokens.Value > 1)
                sum1 += scales * Vector256.Create(Fp16.Load(a1)) * Vector256.ConvertToSingle(Avx2.HorizontalAdd(low1, high1));
        }
        sum0.Store(output);
        if (TTokens.Value > 1)
            sum1.Store(output + outputStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Step(Vector256<int> acc, Vector256<byte> magnitudes, Vector256<sbyte> quants, Vector256<sbyte> y) =>
        Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitudes, Avx2.Sign(y, quants)), Vector256<short>.One));
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// AVX2 prompt body of the 32-value formats whose quants need the sign trick (Q8_0) over groups of eight rows
/// (<see cref="RowGroups"/>), computing exactly what <see cref="LegacyTile{TFormat, TDot}"/> computes: per row, eight
/// int lanes of four products each (|q|·sign(y, q), as <c>vpmaddubsw</c> takes its left side unsigned), each lane's
/// float accumulator stepped by fma(lane, d_w·d_a) per block, and the eight lanes summed at the end. A repacked 8-quant
/// chunk k yields lanes 2k and 2k + 1 of four rows at once, so each chunk keeps its own accumulators and a 4 × 4
/// transpose at the end hands every row its eight lanes in order: prompt tiles, decoding and single dots agree bit for bit.
/// </summary>
internal readonly unsafe struct LegacyRowGroupsAvx2<TFormat> : IRowGroupBody where TFormat : struct, ILegacyFormat
{
    const int ActivationBytes = 34;

    // A repacked block: d_w of rows (0, 0, 1, 1, 4, 4, 5, 5) and of rows (2, 2, 3, 3, 6, 6, 7, 7) as fp32, matching the
    // int lanes; then per 8-quant chunk k a vector pair of the signed quants and a vector pair of their absolute values.
    const int ChunksAt = 64;
    const int ChunkBytes = 4 * 32;

    public static int GroupBlockBytes => ChunksAt + 4 * ChunkBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Repack(byte* rows, long rowBytes, int blocks, byte* scratch)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* target = scratch + b * GroupBlockBytes;
            for (int half = 0; half < 2; half++)
            {
                long offset = (long)b * TFormat.BlockBytes;
                byte* b0 = RowGroups.LaneBlock(rows, rowBytes, 4 * half, offset), b1 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 1, offset);
                byte* b2 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 2, offset), b3 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 3, offset);
                float s0 = Fp16.Load(b0), s1 = Fp16.Load(b1), s2 = Fp16.Load(b2), s3 = Fp16.Load(b3);
                Vector256.Create(s0, s0, s1, s1, s2, s2, s3, s3).Store((float*)(target + half * 32));
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

    public static void Tokens<TTokens>(byte* scratch, int blocks, byte* activations, long activationStride, float* output, long outputStride)
        where TTokens : struct, ITileCount
    {
        // Eight accumulators per token leave no registers for a second one.
        Token(scratch, blocks, activations, output);
        if (TTokens.Value > 1)
            Token(scratch, blocks, activations + activationStride, output + outputStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Token(byte* scratch, int blocks, byte* a, float* output)
    {
        Vector256<float> low0 = default, high0 = default, low1 = default, high1 = default;
        Vector256<float> low2 = default, high2 = default, low3 = default, high3 = default;
        for (int b = 0; b < blocks; b++, a += ActivationBytes)
        {
            byte* group = scratch + b * GroupBlockBytes;
            float d = Fp16.Load(a);
            var scalesLow = Vector256.Load((float*)group) * d;
            var scalesHigh = Vector256.Load((float*)(group + 32)) * d;
            byte* chunks = group + ChunksAt;
            Chunk(chunks, a + 2, scalesLow, scalesHigh, ref low0, ref high0);
            Chunk(chunks + ChunkBytes, a + 10, scalesLow, scalesHigh, ref low1, ref high1);
            Chunk(chunks + 2 * ChunkBytes, a + 18, scalesLow, scalesHigh, ref low2, ref high2);
            Chunk(chunks + 3 * ChunkBytes, a + 26, scalesLow, scalesHigh, ref low3, ref high3);
        }
        StoreRows(low0, low1, low2, low3, output, 0);
        StoreRows(high0, high1, high2, high3, output, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Chunk(byte* chunk, byte* activations, Vector256<float> scalesLow, Vector256<float> scalesHigh, ref Vector256<float> low, ref Vector256<float> high)
    {
        var y = Vector256.Create(Unsafe.ReadUnaligned<long>(activations)).AsSByte();
        low = Step(low, Vector256.Load(chunk + 64), Vector256.Load((sbyte*)chunk), y, scalesLow);
        high = Step(high, Vector256.Load(chunk + 96), Vector256.Load((sbyte*)(chunk + 32)), y, scalesHigh);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Step(Vector256<float> acc, Vector256<byte> magnitudes, Vector256<sbyte> quants, Vector256<sbyte> y, Vector256<float> scales) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitudes, Avx2.Sign(y, quants)), Vector256<short>.One)), scales, acc);

    /// <summary>
    /// Chunk k's accumulator holds lanes 2k, 2k + 1 of the four rows of a group half: transposed, each row gets its 8
    /// lanes in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRows(Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3, float* output, int half)
    {
        var (lanes0, lanes1, lanes2, lanes3) = RowGroups.Transpose(c0.AsUInt64(), c1.AsUInt64(), c2.AsUInt64(), c3.AsUInt64());
        output[RowGroups.LaneRows[4 * half]] = Vector256.Sum(lanes0.AsSingle());
        output[RowGroups.LaneRows[4 * half + 1]] = Vector256.Sum(lanes1.AsSingle());
        output[RowGroups.LaneRows[4 * half + 2]] = Vector256.Sum(lanes2.AsSingle());
        output[RowGroups.LaneRows[4 * half + 3]] = Vector256.Sum(lanes3.AsSingle());
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// AVX2 prompt body of the K-quant formats over groups of eight rows (<see cref="RowGroups"/>) against Q8_K
/// activations: <c>vpmaddubsw</c> of four rows' unsigned quants against a token's 8 activations, then <c>vpmaddwd</c>
/// by each row's 16-value group scale, exact in int32 over the super-block; the float step is the scalar reference's,
/// one row per lane, so results match every other path bit for bit. Per 32 multiply-adds that is the 4 × 4 tile's
/// three instructions (<c>vpmaddubsw</c>, <c>vpmaddwd</c>, add) without its nibble unpacking, scale broadcasts and
/// spills (16 int accumulators plus four rows' quants and scales do not fit AVX2's 16 registers).
/// </summary>
internal readonly unsafe struct SuperBlockRowGroups<TFormat> : IRowGroupBody where TFormat : struct, ISuperBlockFormat
{
    // A repacked super-block: d and dmin of rows 0..7 (fp32), the minimums (or, without minimums, the scales) of each
    // pair of 16-value groups as two shorts per row, then per group a vector pair of its scale (four shorts per row
    // lane), then per 8 values a vector pair of the quants.
    const int MinScalesAt = 32;
    const int GroupWeightsAt = 64;
    const int ScalesAt = GroupWeightsAt + 8 * 32;
    const int QuantsAt = ScalesAt + 16 * 64;

    public static int GroupBlockBytes => QuantsAt + 32 * 64;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Repack(byte* rows, long rowBytes, int blocks, byte* scratch)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* target = scratch + b * GroupBlockBytes;
            long offset = (long)b * TFormat.BlockBytes;
            for (int half = 0; half < 2; half++)
            {
                byte* b0 = RowGroups.LaneBlock(rows, rowBytes, 4 * half, offset), b1 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 1, offset);
                byte* b2 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 2, offset), b3 = RowGroups.LaneBlock(rows, rowBytes, 4 * half + 3, offset);
                var s0 = RowScales(b0, RowGroups.LaneRows[4 * half], target);
                var s1 = RowScales(b1, RowGroups.LaneRows[4 * half + 1], target);
                var s2 = RowScales(b2, RowGroups.LaneRows[4 * half + 2], target);
                var s3 = RowScales(b3, RowGroups.LaneRows[4 * half + 3], target);
                // Groups 4j..4j+3 of a row, each scale four times (one 64-bit lane per group), transposed across the rows.
                for (int j = 0; j < 4; j++)
                {
                    RowGroups.StoreTransposed(FourGroups(s0, j), FourGroups(s1, j), FourGroups(s2, j), FourGroups(s3, j),
                        target + ScalesAt + 4 * j * 64 + half * 32, 64);
                }
                for (int chunk = 0; chunk < 8; chunk++)
                {
                    RowGroups.StoreTransposed(TFormat.Quants(b0, chunk).AsUInt64(), TFormat.Quants(b1, chunk).AsUInt64(),
                        TFormat.Quants(b2, chunk).AsUInt64(), TFormat.Quants(b3, chunk).AsUInt64(),
                        target + QuantsAt + 4 * chunk * 64 + half * 32, 64);
                }
            }
        }
    }

    /// <summary>Stores a row's d, dmin and group weights (by row, in order) and returns its 16 group scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> RowScales(byte* block, int row, byte* target)
    {
        ((float*)target)[row] = TFormat.Scale(block);
        ((float*)(target + MinScalesAt))[row] = TFormat.MinScale(block);
        TFormat.Scales(block, out var scales, out var mins);
        var weights = (TFormat.HasMins ? mins : scales).AsUInt32();
        for (int pair = 0; pair < 8; pair++)
            ((uint*)(target + GroupWeightsAt + pair * 32))[row] = weights.GetElement(pair);
        return scales;
    }

    /// <summary>Scales 4j..4j+3 of 16, each repeated four times: [s₄ⱼ ×4, s₄ⱼ₊₁ ×4 | s₄ⱼ₊₂ ×4, s₄ⱼ₊₃ ×4].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<ulong> FourGroups(Vector256<short> scales, int j)
    {
        var half = j < 2 ? scales.GetLower() : scales.GetUpper();
        // Within each 128-bit lane of [half | half], byte pairs (2o, 2o + 1) four times for o = first, first + 1 (lane 0)
        // and first + 2, first + 3 (lane 1).
        var control = (j & 1) == 0 ? RepeatFirstFour : RepeatLastFour;
        return Avx2.Shuffle(Vector256.Create(half, half).AsByte(), control).AsUInt64();
    }

    static readonly Vector256<byte> RepeatFirstFour = Vector256.Create(
        (byte)0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7);

    static readonly Vector256<byte> RepeatLastFour = Vector256.Create(
        (byte)8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens<TTokens>(byte* scratch, int blocks, byte* activations, long activationStride, float* output, long outputStride)
        where TTokens : struct, ITileCount
    {
        byte* a0 = activations, a1 = TTokens.Value > 1 ? activations + activationStride : activations;
        Vector256<float> sum0 = default, sum1 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* group = scratch + b * GroupBlockBytes;
            Vector256<int> low0 = default, high0 = default, low1 = default, high1 = default;
            for (int g = 0; g < 16; g++)
            {
                var scalesLow = Vector256.Load((short*)(group + ScalesAt + g * 64));
                var scalesHigh = Vector256.Load((short*)(group + ScalesAt + g * 64 + 32));
                for (int half = 0; half < 2; half++)
                {
                    int part = 2 * g + half;
                    var quantsLow = Vector256.Load(group + QuantsAt + part * 64);
                    var quantsHigh = Vector256.Load(group + QuantsAt + part * 64 + 32);
                    var y0 = Vector256.Create(Unsafe.ReadUnaligned<long>(KQuants.ActivationQuants(a0) + 8 * part)).AsSByte();
                    low0 = Step(low0, quantsLow, y0, scalesLow);
                    high0 = Step(high0, quantsHigh, y0, scalesHigh);
                    if (TTokens.Value > 1)
                    {
                        var y1 = Vector256.Create(Unsafe.ReadUnaligned<long>(KQuants.ActivationQuants(a1) + 8 * part)).AsSByte();
                        low1 = Step(low1, quantsLow, y1, scalesLow);
                        high1 = Step(high1, quantsHigh, y1, scalesHigh);
                    }
                }
            }
            var d = Vector256.Load((float*)group);
            var dmin = Vector256.Load((float*)(group + MinScalesAt));
            sum0 = Finish(sum0, Avx2.HorizontalAdd(low0, high0), group, a0, d, dmin);
            if (TTokens.Value > 1)
                sum1 = Finish(sum1, Avx2.HorizontalAdd(low1, high1), group, a1, d, dmin);
            a0 += KQuants.ActivationBlockBytes;
            a1 += KQuants.ActivationBlockBytes;
        }
        sum0.Store(output);
        if (TTokens.Value > 1)
            sum1.Store(output + outputStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Step(Vector256<int> acc, Vector256<byte> quants, Vector256<sbyte> y, Vector256<short> scales) =>
        Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(quants, y), scales));

    /// <summary>The eight rows' float step for one token, in the scalar reference's operations and order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Finish(Vector256<float> sum, Vector256<int> isum, byte* group, byte* activation, Vector256<float> d, Vector256<float> dmin)
    {
        short* activationSums = KQuants.ActivationSums(activation);
        var weighted = Vector256<int>.Zero;
        for (int pair = 0; pair < 8; pair++)
            weighted += Avx2.MultiplyAddAdjacent(
                Vector256.Load((short*)(group + GroupWeightsAt + pair * 32)), Vector256.Create(Unsafe.ReadUnaligned<int>(activationSums + 2 * pair)).AsInt16());
        var dy = Vector256.Create(KQuants.ActivationScale(activation));
        if (TFormat.HasMins)
            return sum + ((dy * d * Vector256.ConvertToSingle(isum)) - (dy * dmin * Vector256.ConvertToSingle(weighted)));
        isum -= weighted << TFormat.OffsetShift;
        return sum + d * dy * Vector256.ConvertToSingle(isum);
    }
}

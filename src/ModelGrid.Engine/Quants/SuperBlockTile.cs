using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// What the SIMD dot needs from a 256-value K-quant super-block: its quants as unsigned bytes 32 at a
/// time, the integer scale (and minimum) of each 16-value group, and its float scales.
/// </summary>
internal unsafe interface ISuperBlockFormat
{
    static abstract int BlockBytes { get; }

    /// <summary>value = d·scale·q − dmin·min (Q2_K, Q4_K, Q5_K); otherwise value = d·scale·(q − 2^<see cref="OffsetShift"/>).</summary>
    static abstract bool HasMins { get; }

    static abstract int OffsetShift { get; }

    /// <summary>The scale and (if <see cref="HasMins"/>) the minimum of each 16-value group, as 16 shorts each.</summary>
    static abstract void Scales(byte* block, out Vector256<short> scales, out Vector256<short> mins);

    /// <summary>Unsigned quants of values 32·chunk .. 32·chunk + 31.</summary>
    static abstract Vector256<byte> Quants(byte* block, int chunk);

    static abstract float Scale(byte* block);

    static abstract float MinScale(byte* block);
}

/// <summary>
/// K-quant kernels share their tile bodies (<see cref="SuperBlockTile{TFormat, TDot}"/>); each keeps a one-row
/// dot tuned for decoding. Both sum each super-block exactly in int32 and then apply the scalar
/// reference's float steps in its order, so every path and tile shape gives the scalar reference's bits.
/// </summary>
internal abstract unsafe class SuperBlockKernel<TFormat>(GgmlType type, params KernelPath[] simdPathsFastestFirst)
    : BlockKernel(type, ActivationEncoding.Q8_K, simdPathsFastestFirst)
    where TFormat : struct, ISuperBlockFormat
{
    protected override void TileAvx2(in TileArgs tile) => TileShapes.Run<SuperBlockTile<TFormat, Avx2ByteDot>>(tile);

    protected override void TileAvxVnni(in TileArgs tile) => TileShapes.Run<SuperBlockTile<TFormat, VnniByteDot>>(tile);

    protected override void RangeAvx2(in TileArgs range) =>
        RunTiles(RowGroups.From(range, RowGroups.Run<SuperBlockRowGroups<TFormat>>(range)), KernelPath.Avx2);

    /// <summary>A 256-bit path whose one-token tiles run a rows body and prompt tiles the shared tile body (the same bits).</summary>
    protected void TileWithRows<TRows256>(in TileArgs tile, KernelPath path) where TRows256 : IRowsKernel
    {
        if (tile.TokenCount == 1)
            TileShapes.RunRows<TRows256>(tile);
        else if (path == KernelPath.AvxVnni)
            TileShapes.Run<SuperBlockTile<TFormat, VnniByteDot>>(tile);
        else
            TileShapes.Run<SuperBlockTile<TFormat, Avx2ByteDot>>(tile);
    }

    /// <summary>
    /// An AVX-512 path for decoding: one-token tiles run the 512-bit rows body; prompt tiles keep the 256-bit
    /// tile, whose results are the same bits (every K-quant path gives the scalar reference's).
    /// </summary>
    protected void TileAvx512<TRows512>(in TileArgs tile) where TRows512 : IRowsKernel
    {
        if (tile.TokenCount == 1)
            TileShapes.RunRows<TRows512>(tile);
        else if (KernelPaths.IsSupported(KernelPath.AvxVnni))
            TileAvxVnni(tile);
        else
            TileAvx2(tile);
    }
}

/// <summary>
/// Up to 4 rows × 4 tokens of K-quant super-blocks against Q8_K activations. Per super-block and
/// (row, token), the scaled quant products accumulate exactly in int32 lanes; the lanes of a row's four
/// tokens are summed together, and the float step — sum += dy·d·isum − dy·dmin·mins, or d·dy·isum —
/// runs on the four tokens at once with the scalar reference's operations in its order.
/// </summary>
internal readonly unsafe struct SuperBlockTile<TFormat, TDot> : ITileKernel
    where TFormat : struct, ISuperBlockFormat
    where TDot : struct, IByteDot256
{
    public static void Run<TRows, TTokens>(in TileArgs tile) where TRows : struct, ITileCount where TTokens : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a0 = tile.Token<TTokens>(0), a1 = tile.Token<TTokens>(1), a2 = tile.Token<TTokens>(2), a3 = tile.Token<TTokens>(3);
        Vector128<float> s0 = default, s1 = default, s2 = default, s3 = default;
        int weightBytes = TFormat.BlockBytes;
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int b = 0; b < tile.Blocks; b++)
        {
            ahead.Step(TRows.Value * weightBytes);
            Vector256<short> scales1 = default, scales2 = default, scales3 = default, mins1 = default, mins2 = default, mins3 = default;
            TFormat.Scales(w0, out var scales0, out var mins0);
            if (TRows.Value > 1)
                TFormat.Scales(w1, out scales1, out mins1);
            if (TRows.Value > 2)
                TFormat.Scales(w2, out scales2, out mins2);
            if (TRows.Value > 3)
                TFormat.Scales(w3, out scales3, out mins3);

            Vector256<int> c00 = default, c10 = default, c20 = default, c30 = default, c01 = default, c11 = default, c21 = default, c31 = default;
            Vector256<int> c02 = default, c12 = default, c22 = default, c32 = default, c03 = default, c13 = default, c23 = default, c33 = default;
            for (int k = 0; k < 8; k++)
            {
                Vector256<byte> q1 = default, q2 = default, q3 = default;
                Vector256<short> p1 = default, p2 = default, p3 = default;
                var q0 = TFormat.Quants(w0, k);
                var p0 = SimdBlocks.ScalePair(scales0, k);
                if (TRows.Value > 1) { q1 = TFormat.Quants(w1, k); p1 = SimdBlocks.ScalePair(scales1, k); }
                if (TRows.Value > 2) { q2 = TFormat.Quants(w2, k); p2 = SimdBlocks.ScalePair(scales2, k); }
                if (TRows.Value > 3) { q3 = TFormat.Quants(w3, k); p3 = SimdBlocks.ScalePair(scales3, k); }
                int quantsAt = 4 + 32 * k;
                Token<TRows>(a0 + quantsAt, q0, q1, q2, q3, p0, p1, p2, p3, ref c00, ref c10, ref c20, ref c30);
                if (TTokens.Value > 1)
                    Token<TRows>(a1 + quantsAt, q0, q1, q2, q3, p0, p1, p2, p3, ref c01, ref c11, ref c21, ref c31);
                if (TTokens.Value > 2)
                    Token<TRows>(a2 + quantsAt, q0, q1, q2, q3, p0, p1, p2, p3, ref c02, ref c12, ref c22, ref c32);
                if (TTokens.Value > 3)
                    Token<TRows>(a3 + quantsAt, q0, q1, q2, q3, p0, p1, p2, p3, ref c03, ref c13, ref c23, ref c33);
            }

            var dy = Vector128.Create(KQuants.ActivationScale(a0), KQuants.ActivationScale(a1), KQuants.ActivationScale(a2), KQuants.ActivationScale(a3));
            s0 = Finish(s0, w0, c00, c01, c02, c03, scales0, mins0, a0, a1, a2, a3, dy);
            if (TRows.Value > 1)
                s1 = Finish(s1, w1, c10, c11, c12, c13, scales1, mins1, a0, a1, a2, a3, dy);
            if (TRows.Value > 2)
                s2 = Finish(s2, w2, c20, c21, c22, c23, scales2, mins2, a0, a1, a2, a3, dy);
            if (TRows.Value > 3)
                s3 = Finish(s3, w3, c30, c31, c32, c33, scales3, mins3, a0, a1, a2, a3, dy);
            w0 += weightBytes; w1 += weightBytes; w2 += weightBytes; w3 += weightBytes;
            a0 += KQuants.ActivationBlockBytes; a1 += KQuants.ActivationBlockBytes; a2 += KQuants.ActivationBlockBytes; a3 += KQuants.ActivationBlockBytes;
        }
        for (int t = 0; t < TTokens.Value; t++)
        {
            tile.Store<TRows, TTokens>(0, t, s0.GetElement(t));
            tile.Store<TRows, TTokens>(1, t, s1.GetElement(t));
            tile.Store<TRows, TTokens>(2, t, s2.GetElement(t));
            tile.Store<TRows, TTokens>(3, t, s3.GetElement(t));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Token<TRows>(
        byte* activationQuants, Vector256<byte> q0, Vector256<byte> q1, Vector256<byte> q2, Vector256<byte> q3,
        Vector256<short> p0, Vector256<short> p1, Vector256<short> p2, Vector256<short> p3,
        ref Vector256<int> c0, ref Vector256<int> c1, ref Vector256<int> c2, ref Vector256<int> c3)
        where TRows : struct, ITileCount
    {
        var y = Vector256.Load((sbyte*)activationQuants);
        c0 = TDot.DotShorts(c0, Avx2.MultiplyAddAdjacent(q0, y), p0);
        if (TRows.Value > 1)
            c1 = TDot.DotShorts(c1, Avx2.MultiplyAddAdjacent(q1, y), p1);
        if (TRows.Value > 2)
            c2 = TDot.DotShorts(c2, Avx2.MultiplyAddAdjacent(q2, y), p2);
        if (TRows.Value > 3)
            c3 = TDot.DotShorts(c3, Avx2.MultiplyAddAdjacent(q3, y), p3);
    }

    /// <summary>One row's float step for the four tokens (lanes) of a super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Finish(
        Vector128<float> sum, byte* row, Vector256<int> c0, Vector256<int> c1, Vector256<int> c2, Vector256<int> c3,
        Vector256<short> scales, Vector256<short> mins, byte* a0, byte* a1, byte* a2, byte* a3, Vector128<float> dy)
    {
        var isum = TileShapes.SumEach(c0, c1, c2, c3);
        var groupWeights = TFormat.HasMins ? mins : scales;
        var weighted = TileShapes.SumEach(
            KQuants.MultiplyAdd16(KQuants.ActivationSums(a0), groupWeights), KQuants.MultiplyAdd16(KQuants.ActivationSums(a1), groupWeights),
            KQuants.MultiplyAdd16(KQuants.ActivationSums(a2), groupWeights), KQuants.MultiplyAdd16(KQuants.ActivationSums(a3), groupWeights));
        if (TFormat.HasMins)
        {
            return sum + ((dy * Vector128.Create(TFormat.Scale(row)) * Vector128.ConvertToSingle(isum))
                - (dy * Vector128.Create(TFormat.MinScale(row)) * Vector128.ConvertToSingle(weighted)));
        }
        isum -= weighted << TFormat.OffsetShift;
        return sum + Vector128.Create(TFormat.Scale(row)) * dy * Vector128.ConvertToSingle(isum);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Kernels of the 32-value block formats against Q8_0 activations (Q8_1 for formats with a minimum,
/// whose stored s = d·Σq supplies the minimum's share as ggml's vec_dot_q4_1_q8_1 does). Per block:
/// an exact int32 dot of the quants, then one float multiply by d_w·d_a.
/// </summary>
internal sealed unsafe class LegacyKernel<TFormat>() : BlockKernel(
    TFormat.Type, TFormat.HasMin ? ActivationEncoding.Q8_1 : ActivationEncoding.Q8_0, KernelPath.AvxVnni, KernelPath.Avx2, KernelPath.Avx512)
    where TFormat : struct, ILegacyFormat
{
    // Activation block layout: Q8_1 = fp16 d, fp16 s, int8 qs[32]; Q8_0 = fp16 d, int8 qs[32].
    // Fields copied to locals, not static properties: the JIT left those as calls inside the loops.
    readonly int _activationBytes = TFormat.HasMin ? 36 : 34;
    readonly int _quantsAt = TFormat.HasMin ? 4 : 2;

    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes, destination += 32)
        {
            float d = Fp16.Load(row);
            if (TFormat.HasMin)
            {
                float m = Fp16.Load(row + 2);
                for (int j = 0; j < 32; j++)
                    destination[j] = TFormat.Quant(row, j) * d + m;
            }
            else
            {
                for (int j = 0; j < 32; j++)
                    destination[j] = TFormat.Quant(row, j) * d;
            }
        }
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        int activationBytes = _activationBytes, quantsAt = _quantsAt;
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += activationBytes)
        {
            var y = (sbyte*)(activations + quantsAt);
            int sumi = 0;
            for (int j = 0; j < 32; j++)
                sumi += TFormat.Quant(row, j) * y[j];
            sum += Fp16.Load(row) * Fp16.Load(activations) * sumi;
            if (TFormat.HasMin)
                sum += Fp16.Load(row + 2) * Fp16.Load(activations + 2);
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) =>
        TFormat.HasMin ? Dot256<Avx2ByteDot>(row, activations, blocks)
        : NeedsSignTrick ? SignedBlocksAvx2<TFormat>.Dot(row, activations, blocks)
        : DotByTile<LegacyTile<TFormat, Avx2ByteDot>>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) =>
        TFormat.HasMin ? Dot256<VnniByteDot>(row, activations, blocks) : DotByTile<LegacyTile<TFormat, VnniByteDot>>(row, activations, blocks);

    // The sign-trick formats' AVX2 bodies decode four rows at a time and run prompts as row groups (SignedBlocksAvx2,
    // LegacyRowGroupsAvx2); the rows past those run as dots, in the same per-block form.
    protected override void TileAvx2(in TileArgs tile)
    {
        if (TFormat.HasMin || NeedsSignTrick)
            DotEach(tile, KernelPath.Avx2);
        else
            TileShapes.Run<LegacyTile<TFormat, Avx2ByteDot>>(tile);
    }

    // vpmaddubsw would clip the pair sums of q + offset against y above this offset.
    static bool NeedsSignTrick => TFormat.Offset > 64;

    protected override void RangeAvx2(in TileArgs range)
    {
        // Only the sign-trick formats gain: the others' unsigned quants already take one vpmaddubsw per (row, token).
        int grouped = TFormat.HasMin || !NeedsSignTrick ? 0 : RowGroups.Run<LegacyRowGroupsAvx2<TFormat>>(range);
        RunTiles(RowGroups.From(range, grouped), KernelPath.Avx2);
    }

    protected override int DecodeGroups(in TileArgs range, KernelPath path) =>
        path == KernelPath.Avx2 && NeedsSignTrick ? SignedBlocksAvx2<TFormat>.DecodeQuads(range) : 0;

    protected override void TileAvxVnni(in TileArgs tile)
    {
        if (TFormat.HasMin)
            DotEach(tile, KernelPath.AvxVnni);
        else
            TileShapes.Run<LegacyTile<TFormat, VnniByteDot>>(tile);
    }

    // Formats with a minimum (Q4_1/Q5_1, rare in current models) keep this one-row dot and no tile.
    float Dot256<TDot>(byte* row, byte* activations, int blocks) where TDot : struct, IByteDot256
    {
        int weightBytes = BlockBytes, activationBytes = _activationBytes, quantsAt = _quantsAt;
        var acc = Vector256<float>.Zero;
        float minimums = 0;
        for (int b = 0; b < blocks; b++, row += weightBytes, activations += activationBytes)
        {
            var sums = BlockSums<TDot>(row, activations + quantsAt);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Create(Fp16.Load(row) * Fp16.Load(activations)), acc);
            if (TFormat.HasMin)
                minimums += Fp16.Load(row + 2) * Fp16.Load(activations + 2);
        }
        return Vector256.Sum(acc) + minimums;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> BlockSums<TDot>(byte* row, byte* activationQuants) where TDot : struct, IByteDot256
    {
        var y = Vector256.Load((sbyte*)activationQuants);
        return TFormat.HasMin
            ? TDot.DotBytes(Vector256<int>.Zero, TFormat.Quants(row), y)
            : SimdBlocks.DotSigned<TDot>(Vector256<int>.Zero, TFormat.Quants(row).AsSByte(), y);
    }

    protected override float DotAvx512(byte* row, byte* activations, int blocks)
    {
        int pairs = blocks / 2;
        float sum = DotPairsAvx512(row, activations, pairs);
        return blocks % 2 == 0 ? sum : sum + Dot256<Avx2ByteDot>(row + 2 * pairs * BlockBytes, activations + 2 * pairs * _activationBytes, 1);
    }

    // Two blocks per 512-bit vector: lanes 0..7 hold the first block's partial sums, 8..15 the second's.
    // Kept free of calls so the accumulator stays in a register.
    float DotPairsAvx512(byte* row, byte* activations, int pairs)
    {
        int weightBytes = BlockBytes, activationBytes = _activationBytes, quantsAt = _quantsAt;
        var acc = Vector512<float>.Zero;
        float minimums = 0;
        for (int p = 0; p < pairs; p++, row += 2 * weightBytes, activations += 2 * activationBytes)
        {
            byte* row2 = row + weightBytes, activations2 = activations + activationBytes;
            var x = Vector512.Create(TFormat.Quants(row), TFormat.Quants(row2));
            var y = Vector512.Create(
                Vector256.Load((sbyte*)(activations + quantsAt)),
                Vector256.Load((sbyte*)(activations2 + quantsAt)));
            Vector512<short> pairSums;
            if (TFormat.HasMin)
            {
                pairSums = Avx512BW.MultiplyAddAdjacent(x, y);
            }
            else
            {
                var signedX = x.AsSByte();
                // AVX-512 has no vpsignb: negate y where x is negative instead.
                var y2 = Vector512.ConditionalSelect(Vector512.LessThan(signedX, Vector512<sbyte>.Zero), -y, y);
                pairSums = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(signedX), y2);
            }
            var sums = Avx512BW.MultiplyAddAdjacent(pairSums, Vector512<short>.One);
            var scales = Vector512.Create(
                Vector256.Create(Fp16.Load(row) * Fp16.Load(activations)),
                Vector256.Create(Fp16.Load(row2) * Fp16.Load(activations2)));
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), scales, acc);
            if (TFormat.HasMin)
                minimums += Fp16.Load(row + 2) * Fp16.Load(activations + 2) + Fp16.Load(row2 + 2) * Fp16.Load(activations2 + 2);
        }
        return Vector512.Sum(acc) + minimums;
    }
}

/// <summary>
/// Up to 4 rows × 4 tokens of a format without minimum against Q8_0 activations, each (row, token) in its
/// own 8-lane float accumulator: per block, an exact int32 dot in 8 lanes, converted and multiplied by
/// d_w·d_a with one FMA, and the lanes summed at the end. The int dot takes the quants unsigned
/// (q + offset) against signed activations and starts from −offset·Σy, which gives the same lane sums as
/// |q|·sign(y, q) with one instruction per (row, token) on AVX-VNNI. On AVX2, where <c>vpmaddubsw</c> would clip the
/// (q + 128)·y pair sums of the sign-trick formats, those run in <see cref="SignedBlocksAvx2{TFormat}"/> instead.
/// </summary>
internal readonly unsafe struct LegacyTile<TFormat, TDot> : ITileKernel
    where TFormat : struct, ILegacyFormat
    where TDot : struct, IByteDot256
{
    const int ActivationBytes = 34;

    public static void Run<TRows, TTokens>(in TileArgs tile) where TRows : struct, ITileCount where TTokens : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a0 = tile.Token<TTokens>(0), a1 = tile.Token<TTokens>(1), a2 = tile.Token<TTokens>(2), a3 = tile.Token<TTokens>(3);
        Vector256<float> c00 = default, c10 = default, c20 = default, c30 = default, c01 = default, c11 = default, c21 = default, c31 = default;
        Vector256<float> c02 = default, c12 = default, c22 = default, c32 = default, c03 = default, c13 = default, c23 = default, c33 = default;
        int weightBytes = TFormat.BlockBytes;
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int b = 0; b < tile.Blocks; b++)
        {
            ahead.Step(TRows.Value * weightBytes);
            var rows = new BlockRows(w0, w1, w2, w3, TRows.Value);
            Token<TRows>(a0, rows, ref c00, ref c10, ref c20, ref c30);
            if (TTokens.Value > 1)
                Token<TRows>(a1, rows, ref c01, ref c11, ref c21, ref c31);
            if (TTokens.Value > 2)
                Token<TRows>(a2, rows, ref c02, ref c12, ref c22, ref c32);
            if (TTokens.Value > 3)
                Token<TRows>(a3, rows, ref c03, ref c13, ref c23, ref c33);
            w0 += weightBytes; w1 += weightBytes; w2 += weightBytes; w3 += weightBytes;
            a0 += ActivationBytes; a1 += ActivationBytes; a2 += ActivationBytes; a3 += ActivationBytes;
        }
        tile.Store<TRows, TTokens>(0, 0, Vector256.Sum(c00)); tile.Store<TRows, TTokens>(1, 0, Vector256.Sum(c10));
        tile.Store<TRows, TTokens>(2, 0, Vector256.Sum(c20)); tile.Store<TRows, TTokens>(3, 0, Vector256.Sum(c30));
        tile.Store<TRows, TTokens>(0, 1, Vector256.Sum(c01)); tile.Store<TRows, TTokens>(1, 1, Vector256.Sum(c11));
        tile.Store<TRows, TTokens>(2, 1, Vector256.Sum(c21)); tile.Store<TRows, TTokens>(3, 1, Vector256.Sum(c31));
        tile.Store<TRows, TTokens>(0, 2, Vector256.Sum(c02)); tile.Store<TRows, TTokens>(1, 2, Vector256.Sum(c12));
        tile.Store<TRows, TTokens>(2, 2, Vector256.Sum(c22)); tile.Store<TRows, TTokens>(3, 2, Vector256.Sum(c32));
        tile.Store<TRows, TTokens>(0, 3, Vector256.Sum(c03)); tile.Store<TRows, TTokens>(1, 3, Vector256.Sum(c13));
        tile.Store<TRows, TTokens>(2, 3, Vector256.Sum(c23)); tile.Store<TRows, TTokens>(3, 3, Vector256.Sum(c33));
    }

    /// <summary>One block of each row, unpacked once for all tokens of the tile.</summary>
    readonly struct BlockRows
    {
        public readonly Vector256<byte> Q0, Q1, Q2, Q3;
        public readonly Vector256<float> D0, D1, D2, D3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public BlockRows(byte* w0, byte* w1, byte* w2, byte* w3, int rows)
        {
            Q0 = TFormat.UnsignedQuants(w0);
            D0 = Vector256.Create(Fp16.Load(w0));
            if (rows > 1) { Q1 = TFormat.UnsignedQuants(w1); D1 = Vector256.Create(Fp16.Load(w1)); }
            if (rows > 2) { Q2 = TFormat.UnsignedQuants(w2); D2 = Vector256.Create(Fp16.Load(w2)); }
            if (rows > 3) { Q3 = TFormat.UnsignedQuants(w3); D3 = Vector256.Create(Fp16.Load(w3)); }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Token<TRows>(byte* activation, in BlockRows rows, ref Vector256<float> c0, ref Vector256<float> c1, ref Vector256<float> c2, ref Vector256<float> c3)
        where TRows : struct, ITileCount
    {
        var y = Vector256.Load((sbyte*)(activation + 2));
        var d = Vector256.Create(Fp16.Load(activation));
        var start = Vector256<int>.Zero - TDot.DotBytes(Vector256<int>.Zero, Vector256.Create(TFormat.Offset), y);
        c0 = Step(c0, rows.Q0, y, start, rows.D0 * d);
        if (TRows.Value > 1)
            c1 = Step(c1, rows.Q1, y, start, rows.D1 * d);
        if (TRows.Value > 2)
            c2 = Step(c2, rows.Q2, y, start, rows.D2 * d);
        if (TRows.Value > 3)
            c3 = Step(c3, rows.Q3, y, start, rows.D3 * d);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Step(Vector256<float> acc, Vector256<byte> unsignedQuants, Vector256<sbyte> y, Vector256<int> start, Vector256<float> scale)
    {
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.DotBytes(start, unsignedQuants, y)), scale, acc);
    }
}

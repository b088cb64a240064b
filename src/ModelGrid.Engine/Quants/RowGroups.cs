using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// A prompt body over rows in groups of eight: each group is first repacked into scratch so that one 256-bit vector
/// holds the same 8 quants of four rows, then run against the tokens. A token's 8 activations, broadcast, meet four
/// rows in one <c>vpmaddubsw</c>/<c>vpmaddwd</c> pair whose int lanes stay per row, so the unpacking and scaling that a
/// register tile repeats per (row, token) is done once per row in the repack, and no accumulator tile has to fit
/// AVX2's 16 registers.
/// </summary>
internal unsafe interface IRowGroupBody
{
    /// <summary>Scratch bytes of one block of a repacked group.</summary>
    static abstract int GroupBlockBytes { get; }

    /// <summary>Fewest tokens for which repacking pays (fewer run as register tiles).</summary>
    static virtual int MinTokens => RowGroups.MinTokens;

    static abstract void Repack(byte* rows, long rowBytes, int blocks, byte* scratch);

    /// <summary>Writes the eight rows' outputs of one or two tokens (<paramref name="outputStride"/> apart) from a repacked group.</summary>
    static abstract void Tokens<TTokens>(byte* scratch, int blocks, byte* activations, long activationStride, float* output, long outputStride)
        where TTokens : struct, ITileCount;
}

internal static unsafe class RowGroups
{
    public const int Rows = 8;

    // Below this many tokens the repack costs about what the faster products save (Qwen3-0.6B Q4_K_M and Q8_0 on Zen 3
    // measured even at 16–32 tokens, ahead at 64), and register tiles run instead.
    public const int MinTokens = 16;

    /// <summary>
    /// Group vectors hold rows (0, 1, 4, 5) and (2, 3, 6, 7), one per 64-bit lane: <c>vphaddd</c> of the two halves'
    /// int sums (two lanes per row) then yields rows 0..7 in order. Lane l of the vectors holds row LaneRows[l].
    /// </summary>
    public static ReadOnlySpan<int> LaneRows => [0, 1, 4, 5, 2, 3, 6, 7];

    /// <summary>Runs the range's whole groups of rows if it has enough tokens; returns how many rows it did (from the first).</summary>
    // Fully optimized at the first call: these loops stayed at tier 0 under tiered compilation.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Run<TBody>(in TileArgs range) where TBody : IRowGroupBody
    {
        int groups = range.RowCount / Rows;
        if (groups == 0 || range.TokenCount < TBody.MinTokens)
            return 0;
        byte* scratch = ThreadScratch<TBody>.Get(range.Blocks * TBody.GroupBlockBytes);
        for (int g = 0; g < groups; g++)
        {
            TBody.Repack(range.Rows + g * Rows * range.RowBytes, range.RowBytes, range.Blocks, scratch);
            float* output = range.Output + g * Rows;
            int t = 0;
            for (; t + 2 <= range.TokenCount; t += 2)
                TBody.Tokens<Two>(scratch, range.Blocks, range.Activations + t * range.ActivationStride, range.ActivationStride, output + t * range.OutputStride, range.OutputStride);
            if (t < range.TokenCount)
                TBody.Tokens<One>(scratch, range.Blocks, range.Activations + t * range.ActivationStride, range.ActivationStride, output + t * range.OutputStride, range.OutputStride);
        }
        return groups * Rows;
    }

    /// <summary>The rows of <paramref name="range"/> from <paramref name="first"/> on.</summary>
    public static TileArgs From(in TileArgs range, int first) => new(
        range.Rows + first * range.RowBytes, range.RowBytes, range.RowCount - first, range.Activations, range.ActivationStride,
        range.TokenCount, range.Output + first, range.OutputStride, range.Blocks);

    /// <summary>The block at <paramref name="blockOffset"/> of the row that lane <paramref name="lane"/> of a group holds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* LaneBlock(byte* rows, long rowBytes, int lane, long blockOffset) => rows + LaneRows[lane] * rowBytes + blockOffset;

    /// <summary>The 4 × 4 transpose of 64-bit elements: element k of <paramref name="v0"/>..<paramref name="v3"/> → elements 0..3 of the k-th result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<ulong>, Vector256<ulong>, Vector256<ulong>, Vector256<ulong>) Transpose(
        Vector256<ulong> v0, Vector256<ulong> v1, Vector256<ulong> v2, Vector256<ulong> v3)
    {
        var low01 = Avx2.UnpackLow(v0, v1);
        var high01 = Avx2.UnpackHigh(v0, v1);
        var low23 = Avx2.UnpackLow(v2, v3);
        var high23 = Avx2.UnpackHigh(v2, v3);
        return (Avx2.Permute2x128(low01, low23, 0x20), Avx2.Permute2x128(high01, high23, 0x20),
            Avx2.Permute2x128(low01, low23, 0x31), Avx2.Permute2x128(high01, high23, 0x31));
    }

    /// <summary><see cref="Transpose"/>, the k-th result stored k·<paramref name="stride"/> bytes after <paramref name="target"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTransposed(Vector256<ulong> v0, Vector256<ulong> v1, Vector256<ulong> v2, Vector256<ulong> v3, byte* target, int stride)
    {
        var (t0, t1, t2, t3) = Transpose(v0, v1, v2, v3);
        t0.Store((ulong*)target);
        t1.Store((ulong*)(target + stride));
        t2.Store((ulong*)(target + 2 * stride));
        t3.Store((ulong*)(target + 3 * stride));
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// A compile-time count (1..4) for the rows or tokens of a register tile: struct type arguments make the
/// JIT compile one body per tile shape with the unused accumulators removed.
/// </summary>
internal interface ITileCount
{
    static abstract int Value { get; }
}

internal readonly struct One : ITileCount { public static int Value => 1; }
internal readonly struct Two : ITileCount { public static int Value => 2; }
internal readonly struct Three : ITileCount { public static int Value => 3; }
internal readonly struct Four : ITileCount { public static int Value => 4; }

/// <summary>
/// One register tile: up to four weight rows (whole blocks each) against up to four encoded activation
/// vectors, writing Output[t·OutputStride + r]. A decoding tile also names where its <see cref="ReadAhead"/> starts.
/// </summary>
internal readonly unsafe struct TileArgs(
    byte* rows, long rowBytes, int rowCount, byte* activations, long activationStride, int tokenCount, float* output, long outputStride, int blocks,
    byte* readAhead = null)
{
    public readonly byte* Rows = rows;
    public readonly long RowBytes = rowBytes;
    public readonly int RowCount = rowCount;
    public readonly byte* Activations = activations;
    public readonly long ActivationStride = activationStride;
    public readonly int TokenCount = tokenCount;
    public readonly float* Output = output;
    public readonly long OutputStride = outputStride;
    public readonly int Blocks = blocks;
    public readonly byte* ReadAhead = readAhead;

    /// <summary>Row <paramref name="r"/>, or row 0 for a row the tile shape leaves unused (never read, so any valid address does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Row<TRows>(int r) where TRows : struct, ITileCount => r < TRows.Value ? Rows + r * RowBytes : Rows;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Token<TTokens>(int t) where TTokens : struct, ITileCount => t < TTokens.Value ? Activations + t * ActivationStride : Activations;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store<TRows, TTokens>(int r, int t, float value) where TRows : struct, ITileCount where TTokens : struct, ITileCount
    {
        if (r < TRows.Value && t < TTokens.Value)
            Output[t * OutputStride + r] = value;
    }
}

/// <summary>
/// Software prefetch paced with a decoding pass: each step asks for as many bytes of the region ahead as the step reads,
/// so the lines arrive a fixed distance ahead of the reads. Asking for a whole tile's lines at once (more than the core
/// has miss buffers for, with long rows) left rows of 3072 values streaming at two thirds of the speed of 1024-value ones.
/// A tile without a region (prompt tiles) steps nothing.
/// </summary>
internal unsafe struct ReadAhead(byte* start)
{
    byte* _next = start, _wanted = start;

    /// <summary>Asks for the lines of <paramref name="bytes"/> bytes from <paramref name="start"/> at once: where a pass begins.</summary>
    public static void Burst(byte* start, long bytes)
    {
        for (byte* line = start, end = start + bytes; Sse.IsSupported && line < end; line += 64)
            Sse.Prefetch0(line);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step(long bytes)
    {
        if (_next == null || !Sse.IsSupported)
            return;
        _wanted += bytes;
        for (; _next < _wanted; _next += 64)
            Sse.Prefetch0(_next);
    }
}

/// <summary>A tile body compiled per shape; <see cref="TileShapes.Run{TKernel}"/> picks the shape.</summary>
internal interface ITileKernel
{
    static abstract void Run<TRows, TTokens>(in TileArgs tile) where TRows : struct, ITileCount where TTokens : struct, ITileCount;
}

/// <summary>A decoding body: up to four rows against the single activation vector of a tile, compiled per row count.</summary>
internal interface IRowsKernel
{
    static abstract void Run<TRows>(in TileArgs tile) where TRows : struct, ITileCount;
}

internal static class TileShapes
{
    public const int MaxRows = 4;
    public const int MaxTokens = 4;

    public static void Run<TKernel>(in TileArgs tile) where TKernel : ITileKernel
    {
        switch (tile.RowCount)
        {
            case 1: ForTokens<TKernel, One>(tile); break;
            case 2: ForTokens<TKernel, Two>(tile); break;
            case 3: ForTokens<TKernel, Three>(tile); break;
            default: ForTokens<TKernel, Four>(tile); break;
        }
    }

    /// <summary>Runs a one-token tile of any row count up to <see cref="MaxRows"/> on a <see cref="IRowsKernel"/>.</summary>
    public static void RunRows<TKernel>(in TileArgs tile) where TKernel : IRowsKernel
    {
        switch (tile.RowCount)
        {
            case 1: TKernel.Run<One>(tile); break;
            case 2: TKernel.Run<Two>(tile); break;
            case 3: TKernel.Run<Three>(tile); break;
            default: TKernel.Run<Four>(tile); break;
        }
    }

    static void ForTokens<TKernel, TRows>(in TileArgs tile) where TKernel : ITileKernel where TRows : struct, ITileCount
    {
        switch (tile.TokenCount)
        {
            case 1: TKernel.Run<TRows, One>(tile); break;
            case 2: TKernel.Run<TRows, Two>(tile); break;
            case 3: TKernel.Run<TRows, Three>(tile); break;
            default: TKernel.Run<TRows, Four>(tile); break;
        }
    }

    /// <summary>
    /// The four lane sums of four vectors at once: element i of the result is Σ lanes of <c>vi</c>. Integer
    /// addition is exact in any order, so this equals four separate horizontal sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> SumEach(Vector256<int> v0, Vector256<int> v1, Vector256<int> v2, Vector256<int> v3)
    {
        // [v0₀+v0₂, v1₀+v1₂, v0₁+v0₃, v1₁+v1₃] per 128-bit half, then the same across the pairs.
        var s01 = Avx2.UnpackLow(v0, v1) + Avx2.UnpackHigh(v0, v1);
        var s23 = Avx2.UnpackLow(v2, v3) + Avx2.UnpackHigh(v2, v3);
        var all = Avx2.UnpackLow(s01.AsInt64(), s23.AsInt64()).AsInt32() + Avx2.UnpackHigh(s01.AsInt64(), s23.AsInt64()).AsInt32();
        return all.GetLower() + all.GetUpper();
    }
}

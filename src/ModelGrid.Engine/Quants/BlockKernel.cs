using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Shared shape checks and path dispatch for the row kernels. A kernel implements a scalar reference
/// and the SIMD paths it lists, fastest first as measured (wider is not always faster: on Zen 4/5 the
/// 512-bit legacy-block path loses to the 256-bit ones, while the 512-bit Q4_K/Q6_K rows bodies beat them by
/// half again); <see cref="Dot(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>
/// runs the first of those this CPU supports, chosen once at construction.
/// </summary>
internal abstract unsafe class BlockKernel : IRowKernel
{
    // How far ahead of the rows being multiplied a decoding pass prefetches.
    const int ReadAheadBytes = 4096;

    // Rows per one-token tile: two share each activation load, and more interleaved streams measured no faster
    // once the reads come from memory (Q8_0 on Zen 5: 2 rows 34 GB/s, 4 rows 31–33, 1 row 32–33).
    const int DecodeTileRows = 2;

    protected BlockKernel(GgmlType type, ActivationEncoding activations, params KernelPath[] simdPathsFastestFirst)
    {
        Type = type;
        Activations = activations;
        BlockSize = GgmlTypeInfo.BlockSize(type);
        BlockBytes = GgmlTypeInfo.BlockBytes(type);
        Paths = [.. simdPathsFastestFirst, KernelPath.Scalar];
        Preferred = KernelPaths.Best(Paths);
        foreach (var path in Paths)
            _pathMask |= 1 << (int)path;
    }

    public GgmlType Type { get; }

    public ActivationEncoding Activations { get; }

    /// <summary>Paths this kernel implements, fastest first, ending with <see cref="KernelPath.Scalar"/>.</summary>
    public IReadOnlyList<KernelPath> Paths { get; }

    /// <summary>The path <see cref="Dot(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/> runs on this CPU.</summary>
    public KernelPath Preferred { get; }

    readonly int _pathMask;

    protected int BlockSize { get; }

    protected int BlockBytes { get; }

    public void Dequantize(ReadOnlySpan<byte> row, Span<float> destination)
    {
        int blocks = CountBlocks(row);
        if (destination.Length < blocks * BlockSize)
            throw new ArgumentException($"{Type} row of {blocks * BlockSize} values does not fit a destination of {destination.Length}", nameof(destination));
        fixed (byte* source = row)
        fixed (float* target = destination)
            DequantizeBlocks(source, target, blocks);
    }

    public float Dot(ReadOnlySpan<byte> row, ReadOnlySpan<byte> encodedActivations) => Dot(row, encodedActivations, Preferred);

    /// <summary>The dot product computed on a given path (tests compare every path with <see cref="KernelPath.Scalar"/>).</summary>
    public float Dot(ReadOnlySpan<byte> row, ReadOnlySpan<byte> encodedActivations, KernelPath path)
    {
        int blocks = CountBlocks(row);
        int expected = RowKernels.EncodedActivationBytes(Activations, blocks * BlockSize);
        if (encodedActivations.Length != expected)
            throw new ArgumentException(
                $"{Type} row of {blocks * BlockSize} values needs {expected} bytes of {Activations} activations, got {encodedActivations.Length}",
                nameof(encodedActivations));
        fixed (byte* weights = row)
        fixed (byte* activations = encodedActivations)
        {
            return path switch
            {
                KernelPath.Scalar => DotScalar(weights, activations, blocks),
                KernelPath.Avx2 when Implements(path) => DotAvx2(weights, activations, blocks),
                KernelPath.AvxVnni when Implements(path) => DotAvxVnni(weights, activations, blocks),
                KernelPath.Avx512 when Implements(path) => DotAvx512(weights, activations, blocks),
                _ => throw new NotSupportedException($"the {Type} kernel has no {path} path"),
            };
        }
    }

    public int PreferredRows => TileShapes.MaxRows;

    public int PreferredTokens => TileShapes.MaxTokens;

    public void DotTile(byte* rows, long rowBytes, int rowCount, byte* activations, int activationStride, int tokenCount, float* output, int outputStride) =>
        DotTile(rows, rowBytes, rowCount, activations, activationStride, tokenCount, output, outputStride, Preferred);

    /// <summary>The tile computed on a given path; each output equals <see cref="Dot(ReadOnlySpan{byte}, ReadOnlySpan{byte}, KernelPath)"/> on that path.</summary>
    public void DotTile(byte* rows, long rowBytes, int rowCount, byte* activations, int activationStride, int tokenCount, float* output, int outputStride, KernelPath path)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokenCount);
        int blocks = CheckRows(rowBytes, rowCount, path);
        int needed = RowKernels.EncodedActivationBytes(Activations, blocks * BlockSize);
        if (activationStride < needed && tokenCount > 0)
            throw new ArgumentException($"{Type} rows of {blocks * BlockSize} values need {needed} bytes of {Activations} activations per token, the stride is {activationStride}", nameof(activationStride));
        if (outputStride < rowCount && tokenCount > 1)
            throw new ArgumentException($"an output stride of {outputStride} overlaps tokens of {rowCount} rows", nameof(outputStride));

        var range = new TileArgs(rows, rowBytes, rowCount, activations, activationStride, tokenCount, output, outputStride, blocks);
        if (path == KernelPath.Avx2)
            RangeAvx2(range);
        else
            RunTiles(range, path);
    }

    /// <summary>A tile range as register tiles of up to <see cref="TileShapes.MaxRows"/> × <see cref="TileShapes.MaxTokens"/>.</summary>
    protected void RunTiles(in TileArgs range, KernelPath path)
    {
        for (int r = 0; r < range.RowCount; r += TileShapes.MaxRows)
        {
            for (int t = 0; t < range.TokenCount; t += TileShapes.MaxTokens)
            {
                RunTile(new TileArgs(
                    range.Rows + r * range.RowBytes, range.RowBytes, Math.Min(TileShapes.MaxRows, range.RowCount - r),
                    range.Activations + t * range.ActivationStride, range.ActivationStride, Math.Min(TileShapes.MaxTokens, range.TokenCount - t),
                    range.Output + t * range.OutputStride + r, range.OutputStride, range.Blocks), path);
            }
        }
    }

    /// <summary>A whole prompt tile range on the AVX2 path: kernels whose prompt body needs more than one register tile's view override it.</summary>
    protected virtual void RangeAvx2(in TileArgs range) => RunTiles(range, KernelPath.Avx2);

    public void DotRows(byte* rows, long rowBytes, int rowCount, byte* activations, float* output) =>
        DotRows(rows, rowBytes, rowCount, activations, output, Preferred);

    /// <summary>The rows computed on a given path; each output equals <see cref="Dot(ReadOnlySpan{byte}, ReadOnlySpan{byte}, KernelPath)"/> on that path.</summary>
    // Fully optimized at the first call: tier-0 vector code is many times slower, and the first tokens ran on it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void DotRows(byte* rows, long rowBytes, int rowCount, byte* activations, float* output, KernelPath path)
    {
        int blocks = CheckRows(rowBytes, rowCount, path);
        // The first lines at once, then each tile's reads ask for the bytes ReadAheadBytes past them (see ReadAhead).
        ReadAhead.Burst(rows, Math.Min(rowCount * rowBytes, ReadAheadBytes));
        int grouped = DecodeGroups(new TileArgs(rows, rowBytes, rowCount, activations, 0, 1, output, 0, blocks, rows + ReadAheadBytes), path);
        for (int r = grouped; r < rowCount; r += DecodeTileRows)
        {
            byte* tile = rows + r * rowBytes;
            RunTile(new TileArgs(tile, rowBytes, Math.Min(DecodeTileRows, rowCount - r), activations, 0, 1, output + r, 0, blocks, tile + ReadAheadBytes), path);
        }
    }

    /// <summary>
    /// Decodes the leading rows of a one-token range on <paramref name="path"/> with a body that takes several rows at
    /// once, for kernels that have one; returns how many rows it did (the rest run as one-token tiles).
    /// </summary>
    protected virtual int DecodeGroups(in TileArgs range, KernelPath path) => 0;

    /// <summary>Validates rows for a tile or row pass on <paramref name="path"/>; returns the blocks per row.</summary>
    int CheckRows(long rowBytes, int rowCount, KernelPath path)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        if (rowBytes <= 0 || rowBytes % BlockBytes != 0 || rowBytes / BlockBytes > int.MaxValue / BlockSize)
            throw new ArgumentException($"{Type} rows of {rowBytes} bytes are not a whole number of {BlockBytes}-byte blocks", nameof(rowBytes));
        if (path != KernelPath.Scalar && !Implements(path))
            throw new NotSupportedException($"the {Type} kernel has no {path} path");
        return (int)(rowBytes / BlockBytes);
    }

    void RunTile(in TileArgs tile, KernelPath path)
    {
        switch (path)
        {
            case KernelPath.Avx2: TileAvx2(tile); break;
            case KernelPath.AvxVnni: TileAvxVnni(tile); break;
            case KernelPath.Avx512: TileAvx512(tile); break;
            default: DotEach(tile, path); break;
        }
    }

    /// <summary>A tile as separate dots, for paths without a register-tiled body.</summary>
    protected void DotEach(in TileArgs tile, KernelPath path)
    {
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int r = 0; r < tile.RowCount; r++)
        {
            ahead.Step(tile.RowBytes);
            for (int t = 0; t < tile.TokenCount; t++)
            {
                byte* row = tile.Rows + r * tile.RowBytes, activations = tile.Activations + t * tile.ActivationStride;
                tile.Output[t * tile.OutputStride + r] = path switch
                {
                    KernelPath.Avx2 => DotAvx2(row, activations, tile.Blocks),
                    KernelPath.AvxVnni => DotAvxVnni(row, activations, tile.Blocks),
                    KernelPath.Avx512 => DotAvx512(row, activations, tile.Blocks),
                    _ => DotScalar(row, activations, tile.Blocks),
                };
            }
        }
    }

    /// <summary>Runs a tile body on a single row and token: the dot of the SIMD paths that have tiles, so that both agree by construction.</summary>
    protected static float DotByTile<TKernel>(byte* row, byte* activations, int blocks) where TKernel : ITileKernel
    {
        float result;
        TKernel.Run<One, One>(new TileArgs(row, 0, 1, activations, 0, 1, &result, 0, blocks));
        return result;
    }

    /// <summary>Runs a rows body on a single row: the dot of the paths whose one-token tiles use it, so that both agree by construction.</summary>
    protected static float DotByRows<TKernel>(byte* row, byte* activations, int blocks) where TKernel : IRowsKernel
    {
        float result;
        TKernel.Run<One>(new TileArgs(row, 0, 1, activations, 0, 1, &result, 0, blocks));
        return result;
    }

    protected virtual void TileAvx2(in TileArgs tile) => DotEach(tile, KernelPath.Avx2);

    protected virtual void TileAvxVnni(in TileArgs tile) => DotEach(tile, KernelPath.AvxVnni);

    protected virtual void TileAvx512(in TileArgs tile) => DotEach(tile, KernelPath.Avx512);

    bool Implements(KernelPath path) => (_pathMask & (1 << (int)path)) != 0;

    int CountBlocks(ReadOnlySpan<byte> row)
    {
        if (row.Length % BlockBytes != 0)
            throw new ArgumentException($"{Type} row of {row.Length} bytes is not a whole number of {BlockBytes}-byte blocks", nameof(row));
        return row.Length / BlockBytes;
    }

    protected abstract void DequantizeBlocks(byte* row, float* destination, int blocks);

    protected abstract float DotScalar(byte* row, byte* activations, int blocks);

    protected virtual float DotAvx2(byte* row, byte* activations, int blocks) => throw new NotSupportedException();

    protected virtual float DotAvxVnni(byte* row, byte* activations, int blocks) => throw new NotSupportedException();

    protected virtual float DotAvx512(byte* row, byte* activations, int blocks) => throw new NotSupportedException();
}

using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Shared shape checks and path dispatch for the row kernels. A kernel implements a scalar reference
/// and the SIMD paths it lists, fastest first as measured (wider is not always faster: on Zen 4/5 the
/// 512-bit legacy-block path loses to the 256-bit ones); <see cref="Dot(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>
/// runs the first of those this CPU supports, chosen once at construction.
/// </summary>
internal abstract unsafe class BlockKernel : IRowKernel
{
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

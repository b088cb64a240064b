using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>How a matrix multiply encodes the activation vector before dotting it with weight rows.</summary>
public enum ActivationEncoding
{
    /// <summary>Plain little-endian float32.</summary>
    F32,
    /// <summary>ggml Q8_0 blocks (32 values, one fp16 scale), as llama.cpp uses for Q4_0/Q5_0/Q8_0 weights.</summary>
    Q8_0,
    /// <summary>ggml Q8_1 blocks (Q8_0 plus the fp16 value d·Σq), as llama.cpp uses for Q4_1/Q5_1 weights, whose minimum multiplies that sum.</summary>
    Q8_1,
    /// <summary>ggml Q8_K blocks (256 values, f32 scale, 16 block sums), as llama.cpp uses for K-quant weights.</summary>
    Q8_K,
}

/// <summary>
/// The kernels of one weight type: decode a row, and dot a row with an activation vector that was
/// encoded once per matrix multiply (see <see cref="ActivationEncoding"/>).
/// </summary>
public interface IRowKernel
{
    GgmlType Type { get; }

    ActivationEncoding Activations { get; }

    /// <summary>Decodes one row of weights (whole blocks) to float32.</summary>
    void Dequantize(ReadOnlySpan<byte> row, Span<float> destination);

    /// <summary>Dot product of one weight row with activations encoded as <see cref="Activations"/>.</summary>
    float Dot(ReadOnlySpan<byte> row, ReadOnlySpan<byte> encodedActivations);

    /// <summary>Rows per register tile of <see cref="DotTile"/>: a multiple of it wastes no tile.</summary>
    int PreferredRows { get; }

    /// <summary>Tokens per register tile of <see cref="DotTile"/>: a multiple of it wastes no tile.</summary>
    int PreferredTokens { get; }

    /// <summary>
    /// output[t·outputStride + r] = <see cref="Dot"/>(row r, activation vector t) for r &lt; rowCount,
    /// t &lt; tokenCount, bit for bit: each weight block is loaded once for a tile of tokens and each
    /// activation block once for a tile of rows. Any counts are accepted and split into tiles of
    /// <see cref="PreferredRows"/> × <see cref="PreferredTokens"/>, rows outermost.
    /// </summary>
    /// <param name="rows">rowCount rows of whole blocks, <paramref name="rowBytes"/> apart.</param>
    /// <param name="activations">tokenCount vectors encoded as <see cref="Activations"/> for the row length, <paramref name="activationStride"/> bytes apart.</param>
    unsafe void DotTile(byte* rows, long rowBytes, int rowCount, byte* activations, int activationStride, int tokenCount, float* output, int outputStride);

    /// <summary>
    /// output[r] = <see cref="Dot"/>(row r, activations) for r &lt; rowCount, bit for bit: the decoding form of
    /// <see cref="DotTile"/> (one token), which streams the rows once and prefetches ahead of the ones it multiplies.
    /// </summary>
    /// <param name="rows">rowCount rows of whole blocks, <paramref name="rowBytes"/> apart.</param>
    /// <param name="activations">one vector encoded as <see cref="Activations"/> for the row length.</param>
    unsafe void DotRows(byte* rows, long rowBytes, int rowCount, byte* activations, float* output);
}

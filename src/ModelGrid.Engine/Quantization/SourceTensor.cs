using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>Fills <paramref name="destination"/> (one row's length) with row <paramref name="row"/> of a tensor, as float32.</summary>
public delegate void RowReader(long row, Span<float> destination);

/// <summary>
/// A tensor to write: its GGUF name and dimensions (ggml order), the type it keeps when the scheme does not quantize it,
/// and its rows as float32, produced on demand so that a model is streamed rather than held in memory.
/// <paramref name="Stored"/>, when set, holds the tensor's bytes already in <paramref name="KeptType"/>: kept tensors
/// are then copied byte for byte.
/// </summary>
public sealed record SourceTensor(string Name, long[] Dimensions, GgmlType KeptType, RowReader ReadRow, WeightTensor? Stored = null)
{
    public int RowLength => checked((int)Dimensions[0]);

    public long RowCount => Dimensions.Skip(1).Aggregate(1L, (product, d) => product * d);

    /// <summary>The rows of a weight tensor read in place from a model file, keeping its stored type.</summary>
    public static SourceTensor FromWeight(WeightTensor weight, string? name = null) =>
        new(name ?? weight.Name, weight.Dimensions, weight.Type, weight.DequantizeRow, weight);
}

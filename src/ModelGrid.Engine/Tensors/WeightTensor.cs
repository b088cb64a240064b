using ModelGrid.Engine.Quants;

namespace ModelGrid.Engine.Tensors;

/// <summary>
/// A weight tensor read in place from a mapped model file. <see cref="Dimensions"/> are in ggml order
/// (row length first). A 3-D tensor is a stack of matrices, e.g. one per MoE expert; see <see cref="Slice"/>.
/// </summary>
public sealed unsafe class WeightTensor
{
    public WeightTensor(string name, GgmlType type, long[] dimensions, byte* data)
    {
        Name = name;
        Type = type;
        Dimensions = dimensions;
        Data = data;
        RowLength = checked((int)dimensions[0]);
        RowCount = dimensions.Skip(1).Aggregate(1L, (a, b) => a * b);
        RowBytes = GgmlTypeInfo.RowBytes(type, RowLength);
        Kernel = RowKernels.For(type);
    }

    public string Name { get; }
    public GgmlType Type { get; }
    public long[] Dimensions { get; }
    public byte* Data { get; }
    public int RowLength { get; }
    public long RowCount { get; }
    public long RowBytes { get; }
    public IRowKernel Kernel { get; }

    public ReadOnlySpan<byte> Row(long row) => new(Data + row * RowBytes, (int)RowBytes);

    public void DequantizeRow(long row, Span<float> destination) => Kernel.Dequantize(Row(row), destination[..RowLength]);

    /// <summary>Matrix <paramref name="index"/> of a stacked 3-D tensor, as a 2-D tensor.</summary>
    public WeightTensor Slice(int index)
    {
        long rows = Dimensions[1];
        return new WeightTensor($"{Name}[{index}]", Type, [Dimensions[0], rows], Data + index * rows * RowBytes);
    }

    /// <summary>The whole tensor decoded to float32 (for small tensors: norms, biases, routers).</summary>
    public float[] ToFloats()
    {
        var values = new float[checked(RowCount * RowLength)];
        for (long r = 0; r < RowCount; r++)
            DequantizeRow(r, values.AsSpan(checked((int)(r * RowLength)), RowLength));
        return values;
    }
}

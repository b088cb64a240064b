using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Gguf;

/// <summary>
/// One tensor's header entry. <see cref="Dimensions"/> are in ggml order: the first is the length of a row
/// (the innermost, contiguous dimension). <see cref="FileOffset"/> is absolute within the file.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long FileOffset, long ByteSize)
{
    public long ElementCount => Dimensions.Aggregate(1L, (product, d) => product * d);

    public long RowLength => Dimensions[0];

    public long RowCount => ElementCount / Dimensions[0];
}

namespace ModelGrid.Engine.Tensors;

/// <summary>Tensor element types, numbered as ggml numbers them in GGUF files.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    BF16 = 30,
}

/// <summary>Block geometry of each <see cref="GgmlType"/>: elements per block and bytes per block.</summary>
public static class GgmlTypeInfo
{
    public static bool IsKnown(GgmlType type) => BlockSizeOrZero(type) != 0;

    public static int BlockSize(GgmlType type) =>
        BlockSizeOrZero(type) is var size and > 0 ? size : throw new NotSupportedException($"tensor type {type} ({(uint)type}) is not supported");

    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q4_0 => 18,
        GgmlType.Q4_1 => 20,
        GgmlType.Q5_0 => 22,
        GgmlType.Q5_1 => 24,
        GgmlType.Q8_0 => 34,
        GgmlType.Q8_1 => 36,
        GgmlType.Q2_K => 84,
        GgmlType.Q3_K => 110,
        GgmlType.Q4_K => 144,
        GgmlType.Q5_K => 176,
        GgmlType.Q6_K => 210,
        GgmlType.Q8_K => 292,
        _ => throw new NotSupportedException($"tensor type {type} ({(uint)type}) is not supported"),
    };

    /// <summary>Bytes of one row of <paramref name="elements"/> values; the row must hold whole blocks.</summary>
    public static long RowBytes(GgmlType type, long elements)
    {
        int block = BlockSize(type);
        if (elements % block != 0)
            throw new ArgumentException($"row of {elements} elements is not a multiple of the {type} block size {block}");
        return elements / block * BlockBytes(type);
    }

    static int BlockSizeOrZero(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K => 256,
        _ => 0,
    };
}

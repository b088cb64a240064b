using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>
/// A target file type as llama-quantize names it: the default tensor type, and the number written to
/// <c>general.file_type</c> (llama.cpp's <c>llama_ftype</c>). The _K_M schemes mix types per tensor (see
/// <see cref="TensorTypeSelector"/>).
/// </summary>
public sealed record QuantizationScheme(string Name, int FileType, GgmlType DefaultType)
{
    public static readonly QuantizationScheme F32 = new("F32", 0, GgmlType.F32);
    public static readonly QuantizationScheme F16 = new("F16", 1, GgmlType.F16);
    public static readonly QuantizationScheme BF16 = new("BF16", 32, GgmlType.BF16);
    public static readonly QuantizationScheme Q8_0 = new("Q8_0", 7, GgmlType.Q8_0);
    public static readonly QuantizationScheme Q4_0 = new("Q4_0", 2, GgmlType.Q4_0);
    public static readonly QuantizationScheme Q4_1 = new("Q4_1", 3, GgmlType.Q4_1);
    public static readonly QuantizationScheme Q5_0 = new("Q5_0", 8, GgmlType.Q5_0);
    public static readonly QuantizationScheme Q5_1 = new("Q5_1", 9, GgmlType.Q5_1);
    public static readonly QuantizationScheme Q4_K_M = new("Q4_K_M", 15, GgmlType.Q4_K);
    public static readonly QuantizationScheme Q5_K_M = new("Q5_K_M", 17, GgmlType.Q5_K);
    public static readonly QuantizationScheme Q6_K = new("Q6_K", 18, GgmlType.Q6_K);

    public static IReadOnlyList<QuantizationScheme> All { get; } = [F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q5_K_M, Q6_K];

    /// <summary>True when the default type is a block format (the per-tensor mix rules apply), false for F32/F16/BF16.</summary>
    public bool IsQuantized => DefaultType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);

    /// <summary>A scheme by name, case-insensitive ("q4_k_m", "Q8_0", "f16").</summary>
    public static QuantizationScheme Parse(string name) =>
        All.FirstOrDefault(scheme => string.Equals(scheme.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown quantization type '{name}' (known: {string.Join(", ", All.Select(s => s.Name))})", nameof(name));

    public override string ToString() => Name;
}

using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>float32 rows → the bytes of any writable tensor type (F32, F16, BF16 or a block format of <see cref="BlockQuantizer"/>).</summary>
public static class TensorEncoder
{
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 || BlockQuantizer.Supports(type);

    public static void EncodeRow(GgmlType type, ReadOnlySpan<float> row, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(row).CopyTo(destination);
                break;
            case GgmlType.F16:
                for (int i = 0; i < row.Length; i++)
                    BinaryPrimitives.WriteHalfLittleEndian(destination[(2 * i)..], (Half)row[i]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < row.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], ToBFloat16(row[i]));
                break;
            default:
                BlockQuantizer.Quantize(type, row, destination);
                break;
        }
    }

    // ggml_compute_fp32_to_bf16: round to nearest even; NaN stays a (quiet) NaN.
    static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7fffffff) > 0x7f800000)
            return (ushort)((bits >> 16) | 64);
        return (ushort)((bits + (0x7fff + ((bits >> 16) & 1))) >> 16);
    }
}

using System.Buffers.Binary;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// float → ggml blocks, following ggml-quants.c's <c>quantize_row_*_ref</c> step for step (same
/// rounding functions, same fp16 rounding of scales), so the bytes match ggml's.
/// </summary>
public static class BlockQuantizer
{
    public static bool Supports(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q8_K or GgmlType.Q4_0;

    public static void Quantize(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (!Supports(type))
            throw new NotSupportedException($"no quantizer for tensor type {type} ({(uint)type})");
        long bytes = GgmlTypeInfo.RowBytes(type, source.Length);
        if (destination.Length != bytes)
            throw new ArgumentException($"{source.Length} values quantize to {bytes} bytes of {type}, destination has {destination.Length}", nameof(destination));

        int blockSize = GgmlTypeInfo.BlockSize(type), blockBytes = GgmlTypeInfo.BlockBytes(type);
        for (int b = 0; b < source.Length / blockSize; b++)
        {
            var values = source.Slice(b * blockSize, blockSize);
            var block = destination.Slice(b * blockBytes, blockBytes);
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(values, block); break;
                case GgmlType.Q8_1: Q8_1(values, block); break;
                case GgmlType.Q8_K: Q8_K(values, block); break;
                case GgmlType.Q4_0: Q4_0(values, block); break;
            }
        }
    }

    // Layout: fp16 d, int8 qs[32]; d = max|x| / 127, q = roundf(x / d) (half away from zero).
    static void Q8_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float d = MaxMagnitude(x) / 127;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        for (int j = 0; j < x.Length; j++)
            block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * inverse, MidpointRounding.AwayFromZero);
    }

    // Layout: fp16 d, fp16 s = d·Σq, int8 qs[32].
    static void Q8_1(ReadOnlySpan<float> x, Span<byte> block)
    {
        float d = MaxMagnitude(x) / 127;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < x.Length; j++)
        {
            var q = (sbyte)MathF.Round(x[j] * inverse, MidpointRounding.AwayFromZero);
            block[4 + j] = (byte)q;
            sum += q;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromSingle(sum * d));
    }

    // Layout: f32 d, int8 qs[256], int16 bsums[16] (sums of each 16 quants). The scale is signed:
    // the value of largest magnitude maps to -127, and rounding is nearest_int (half to even).
    static void Q8_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
        {
            float magnitude = MathF.Abs(v);
            if (magnitude > amax)
            {
                amax = magnitude;
                max = v;
            }
        }
        var quants = block.Slice(4, 256);
        var sums = block.Slice(260, 32);
        if (amax == 0)
        {
            block.Clear();
            return;
        }
        float inverse = -127f / max;
        for (int j = 0; j < x.Length; j++)
            quants[j] = (byte)(sbyte)Math.Min(127, (int)MathF.Round(inverse * x[j]));
        for (int g = 0; g < 16; g++)
        {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += (sbyte)quants[g * 16 + j];
            BinaryPrimitives.WriteInt16LittleEndian(sums[(2 * g)..], (short)sum);
        }
        BinaryPrimitives.WriteSingleLittleEndian(block, 1 / inverse);
    }

    // Layout: fp16 d, qs[16] (element j in the low nibble of byte j, element j+16 in its high nibble);
    // d = (signed value of largest magnitude) / -8, so that value maps to quant 0.
    static void Q4_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        float d = max / -8;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        for (int j = 0; j < 16; j++)
        {
            int low = Math.Min(15, (int)(sbyte)(x[j] * inverse + 8.5f));
            int high = Math.Min(15, (int)(sbyte)(x[j + 16] * inverse + 8.5f));
            block[2 + j] = (byte)(low | high << 4);
        }
    }

    static float MaxMagnitude(ReadOnlySpan<float> x)
    {
        float amax = 0;
        foreach (float v in x)
            amax = MathF.Max(amax, MathF.Abs(v));
        return amax;
    }
}

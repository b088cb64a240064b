using System.Buffers.Binary;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Quants;

/// <summary>Random rows of every block format (random quant bits, sane fp16 scales) and decoding of encoded activations.</summary>
internal static class QuantTestData
{
    public static readonly GgmlType[] KernelTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    public static bool IsFloat(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;

    /// <summary>Byte offsets of the fp16 scale fields in one block: random bits there would make NaNs and infinities.</summary>
    static int[] HalfFields(GgmlType type) => type switch
    {
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static byte[] RandomRow(GgmlType type, int elements, Random random)
    {
        var row = new byte[GgmlTypeInfo.RowBytes(type, elements)];
        if (IsFloat(type))
        {
            for (int i = 0; i < elements; i++)
            {
                float value = (float)(random.NextDouble() * 2 - 1);
                switch (type)
                {
                    case GgmlType.F32: BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(4 * i), value); break;
                    case GgmlType.F16: BinaryPrimitives.WriteHalfLittleEndian(row.AsSpan(2 * i), (Half)value); break;
                    default: BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16)); break;
                }
            }
            return row;
        }
        random.NextBytes(row);
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        for (int block = 0; block < row.Length; block += blockBytes)
            foreach (int field in HalfFields(type))
                BinaryPrimitives.WriteHalfLittleEndian(row.AsSpan(block + field), (Half)(float)((random.NextDouble() * 2 - 1) * 0.05));
        return row;
    }

    public static float[] RandomActivations(int elements, Random random)
    {
        var x = new float[elements];
        for (int i = 0; i < elements; i++)
            x[i] = (float)((random.NextDouble() * 2 - 1) * (1 + 3 * random.NextDouble()));
        return x;
    }

    public static byte[] Encode(ActivationEncoding encoding, float[] x)
    {
        var encoded = new byte[RowKernels.EncodedActivationBytes(encoding, x.Length)];
        RowKernels.EncodeActivations(encoding, x, encoded);
        return encoded;
    }

    /// <summary>The values an encoded activation vector stands for (q·d per block).</summary>
    public static float[] Decode(ActivationEncoding encoding, byte[] encoded, int elements)
    {
        var values = new float[elements];
        (int blockSize, int blockBytes, int quantsAt) = encoding switch
        {
            ActivationEncoding.F32 => (1, 4, 0),
            ActivationEncoding.Q8_0 => (32, 34, 2),
            ActivationEncoding.Q8_1 => (32, 36, 4),
            ActivationEncoding.Q8_K => (256, 292, 4),
            _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
        };
        for (int b = 0; b < elements / blockSize; b++)
        {
            var block = encoded.AsSpan(b * blockBytes, blockBytes);
            if (encoding == ActivationEncoding.F32)
            {
                values[b] = BinaryPrimitives.ReadSingleLittleEndian(block);
                continue;
            }
            float d = encoding == ActivationEncoding.Q8_K ? BinaryPrimitives.ReadSingleLittleEndian(block) : (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (int j = 0; j < blockSize; j++)
                values[b * blockSize + j] = (sbyte)block[quantsAt + j] * d;
        }
        return values;
    }

    public static float[] Dequantize(IRowKernel kernel, byte[] row, int elements)
    {
        var values = new float[elements];
        kernel.Dequantize(row, values);
        return values;
    }

    /// <summary>Σ a·b in double, and Σ |a·b| (the scale float rounding errors are relative to).</summary>
    public static (double Dot, double Magnitude) ReferenceDot(float[] a, float[] b)
    {
        double dot = 0, magnitude = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            magnitude += Math.Abs((double)a[i] * b[i]);
        }
        return (dot, magnitude);
    }
}

using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed unsafe class PatchMatMulTests
{
    /// <summary>Row counts around the 4-row tile and 16-row work item, token counts around the 2-token tile, row lengths on and off 8.</summary>
    [Theory]
    [InlineData(GgmlType.F32, 1, 8, 1)]
    [InlineData(GgmlType.F32, 37, 64, 5)]
    [InlineData(GgmlType.F32, 16, 13, 3)]
    [InlineData(GgmlType.F32, 33, 256, 2)]
    [InlineData(GgmlType.F16, 19, 24, 7)]
    [InlineData(GgmlType.BF16, 20, 40, 4)]
    public void Matches_a_plain_loop(GgmlType type, int rows, int length, int tokens)
    {
        var random = new Random(rows * 1000 + length);
        var weights = new float[rows * length];
        var data = new byte[weights.Length * (type == GgmlType.F32 ? 4 : 2)];
        for (int i = 0; i < weights.Length; i++)
        {
            float value = (float)(random.NextDouble() * 2 - 1);
            switch (type)
            {
                case GgmlType.F32:
                    weights[i] = value;
                    BitConverter.TryWriteBytes(data.AsSpan(4 * i), value);
                    break;
                case GgmlType.F16:
                    weights[i] = (float)(Half)value;
                    BitConverter.TryWriteBytes(data.AsSpan(2 * i), (Half)value);
                    break;
                default:
                    ushort bits = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
                    weights[i] = BitConverter.UInt32BitsToSingle((uint)bits << 16);
                    BitConverter.TryWriteBytes(data.AsSpan(2 * i), bits);
                    break;
            }
        }
        var input = Enumerable.Range(0, tokens * length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        int stride = rows + 3;
        var output = Enumerable.Repeat(float.NaN, tokens * stride).ToArray();

        using var pool = new WorkerPool(2);
        fixed (byte* weightData = data)
        fixed (float* x = input, y = output)
            new PatchMatMul(pool).Multiply(new WeightTensor("w", type, [length, rows], weightData), x, tokens, y, stride);

        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                double expected = 0;
                for (int i = 0; i < length; i++)
                    expected += (double)weights[r * length + i] * input[t * length + i];
                Assert.True(Math.Abs(output[t * stride + r] - expected) <= 1e-5 * Math.Sqrt(length), $"token {t}, row {r}: {output[t * stride + r]} vs {expected}");
            }
            for (int r = rows; r < stride; r++)
                Assert.True(float.IsNaN(output[t * stride + r]), $"token {t}: column {r} past the rows was written");
        }
    }

    /// <summary>The bias is added to every token's row, in the tiles and in the rows they leave over alike.</summary>
    [Fact]
    public void Adds_the_bias_to_every_row()
    {
        const int rows = 21, length = 16, tokens = 3;
        var random = new Random(5);
        var weights = Enumerable.Range(0, rows * length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var input = Enumerable.Range(0, tokens * length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var bias = Enumerable.Range(0, rows).Select(i => 10f * i).ToArray();
        var plain = new float[tokens * rows];
        var biased = new float[tokens * rows];
        using var pool = new WorkerPool(2);
        var matMul = new PatchMatMul(pool);
        fixed (float* w = weights, x = input, b = bias, y = plain, z = biased)
        {
            var tensor = new WeightTensor("w", GgmlType.F32, [length, rows], (byte*)w);
            matMul.Multiply(tensor, x, tokens, y, rows);
            matMul.Multiply(tensor, x, tokens, z, rows, b);
        }
        for (int i = 0; i < plain.Length; i++)
            Assert.Equal(plain[i] + bias[i % rows], biased[i], 4);
    }
}

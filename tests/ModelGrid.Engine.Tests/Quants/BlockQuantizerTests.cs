using System.Buffers.Binary;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Quants;

public class BlockQuantizerTests
{
    [Fact]
    public void Q8_0_scales_by_max_magnitude_over_127_and_rounds_half_away_from_zero()
    {
        var x = new float[32];
        x[0] = -254f; // d = 2
        x[1] = 3f;    // 1.5 → 2
        x[2] = -5f;   // -2.5 → -3
        x[3] = 0.9f;  // 0.45 → 0
        var block = new byte[34];
        BlockQuantizer.Quantize(GgmlType.Q8_0, x, block);
        Assert.Equal(2f, (float)BinaryPrimitives.ReadHalfLittleEndian(block));
        Assert.Equal(new sbyte[] { -127, 2, -3, 0 }, block[2..6].Select(b => (sbyte)b));
    }

    [Fact]
    public void Q8_1_stores_d_times_the_sum_of_its_quants()
    {
        var x = Enumerable.Range(0, 32).Select(i => (float)(i - 10)).ToArray();
        var block = new byte[36];
        BlockQuantizer.Quantize(GgmlType.Q8_1, x, block);
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        int sum = block[4..].Sum(b => (sbyte)b);
        Assert.Equal((float)(Half)(sum * (21f / 127)), (float)BinaryPrimitives.ReadHalfLittleEndian(block.AsSpan(2)));
        Assert.Equal((float)(Half)(21f / 127), d);
    }

    [Fact]
    public void Q8_K_maps_the_largest_magnitude_to_minus_127_and_stores_16_value_sums()
    {
        var random = new Random(5);
        var x = Enumerable.Range(0, 256).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        x[77] = 3f;
        var block = new byte[292];
        BlockQuantizer.Quantize(GgmlType.Q8_K, x, block);
        float d = BinaryPrimitives.ReadSingleLittleEndian(block);
        var quants = block[4..260].Select(b => (sbyte)b).ToArray();
        Assert.Equal(-127, quants[77]);
        Assert.Equal(1 / (-127f / 3f), d);
        for (int i = 0; i < 256; i++)
            Assert.True(Math.Abs(quants[i] * d - x[i]) <= Math.Abs(d) / 2 * 1.0001, $"value {i}: {x[i]} → {quants[i]}·{d}");
        for (int g = 0; g < 16; g++)
            Assert.Equal(quants.Skip(16 * g).Take(16).Sum(q => q), BinaryPrimitives.ReadInt16LittleEndian(block.AsSpan(260 + 2 * g)));
    }

    [Fact]
    public void Q8_K_of_zeros_is_all_zero()
    {
        var block = Enumerable.Repeat((byte)0xAB, 292).ToArray();
        BlockQuantizer.Quantize(GgmlType.Q8_K, new float[256], block);
        Assert.All(block, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Unsupported_type_is_named()
    {
        var error = Assert.Throws<NotSupportedException>(() => BlockQuantizer.Quantize(GgmlType.Q3_K, new float[256], new byte[110]));
        Assert.Contains("Q3_K", error.Message);
    }

    /// <summary>
    /// llama-quantize writes Q8_0 and Q4_0 with quantize_row_*_ref; quantizing the same weights from a
    /// float GGUF of the same model must give the same bytes. Pairs are found as golden models
    /// "X-q8_0.gguf"/"X-q4_0.gguf" beside "X-f32.gguf".
    /// </summary>
    public static TheoryData<string, string> QuantizedModelsWithFloatSource()
    {
        var data = new TheoryData<string, string>();
        foreach (var path in Directory.GetFiles(Golden.Path("models"), "*.gguf").Order())
        {
            string name = Path.GetFileNameWithoutExtension(path);
            foreach (var suffix in new[] { "-q8_0", "-q4_0" })
            {
                string source = Golden.Path("models", name[..^suffix.Length] + "-f32.gguf");
                if (name.EndsWith(suffix, StringComparison.Ordinal) && File.Exists(source))
                    data.Add(Path.GetFileName(source), Path.GetFileName(path));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(QuantizedModelsWithFloatSource))]
    public void Quantizing_the_float_weights_reproduces_llama_quantize_bytes(string floatModel, string quantizedModel)
    {
        using var source = GgufFile.Open(Golden.Path("models", floatModel));
        using var quantized = GgufFile.Open(Golden.Path("models", quantizedModel));
        int compared = 0;
        foreach (var tensor in quantized.Tensors.Where(t => BlockQuantizer.Supports(t.Type)))
        {
            var original = source.GetTensor(tensor.Name);
            Assert.Equal(GgmlType.F32, original.Type);
            var floats = new float[original.ElementCount];
            source.Data(original).CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(floats.AsSpan()));
            var bytes = new byte[tensor.ByteSize];
            BlockQuantizer.Quantize(tensor.Type, floats, bytes);
            var expected = quantized.Data(tensor);
            int mismatch = expected.CommonPrefixLength(bytes);
            Assert.True(mismatch == bytes.Length, $"{quantizedModel} {tensor.Name} ({tensor.Type}): first differing byte at {mismatch} of {bytes.Length}");
            compared++;
        }
        Assert.True(compared > 0, $"{quantizedModel} holds no tensor of a type the quantizer supports");
    }
}

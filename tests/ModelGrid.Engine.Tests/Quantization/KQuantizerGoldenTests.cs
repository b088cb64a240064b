using System.Runtime.InteropServices;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Quantization;

/// <summary>
/// llama-quantize (without an importance matrix) writes every block type with ggml's quantize_row_*_ref. Quantizing the
/// float weights of the same model must give the same bytes, tensor by tensor, for every type our quantizer supports.
/// Pairs are golden models "X-&lt;type&gt;.gguf" beside "X-f32.gguf".
/// </summary>
public class KQuantizerGoldenTests
{
    public static TheoryData<string, string> QuantizedModelsWithFloatSource()
    {
        var data = new TheoryData<string, string>();
        foreach (var path in Directory.GetFiles(Golden.Path("models"), "*-f32.gguf").Order())
        {
            string stem = Path.GetFileName(path)[..^"-f32.gguf".Length];
            foreach (var quantized in Directory.GetFiles(Golden.Path("models"), stem + "-q*.gguf").Order())
                data.Add(Path.GetFileName(path), Path.GetFileName(quantized));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(QuantizedModelsWithFloatSource))]
    public void Quantizing_the_float_weights_reproduces_llama_quantize_bytes(string floatModel, string quantizedModel)
    {
        using var source = GgufFile.Open(Golden.Path("models", floatModel));
        using var quantized = GgufFile.Open(Golden.Path("models", quantizedModel));
        var mismatches = new List<string>();
        int compared = 0;
        foreach (var tensor in quantized.Tensors.Where(t => t.Type != GgmlType.F32 && BlockQuantizer.Supports(t.Type)))
        {
            var floats = MemoryMarshal.Cast<byte, float>(source.Data(source.GetTensor(tensor.Name))).ToArray();
            var bytes = new byte[tensor.ByteSize];
            BlockQuantizer.Quantize(tensor.Type, floats, bytes);
            int firstDifference = quantized.Data(tensor).CommonPrefixLength(bytes);
            if (firstDifference != bytes.Length)
                mismatches.Add($"{tensor.Name} ({tensor.Type}): first differing byte at {firstDifference} of {bytes.Length}");
            compared++;
        }
        Assert.True(compared > 0, $"{quantizedModel} holds no tensor of a type the quantizer supports");
        Assert.Empty(mismatches);
    }

    public static TheoryData<GgmlType, double> QuantizedTypesWithErrorBound() => new()
    {
        // Bounds on the relative RMS error of Gaussian weights, a little above what ggml's own quantizers reach.
        { GgmlType.Q4_0, 0.12 }, { GgmlType.Q4_1, 0.10 }, { GgmlType.Q5_0, 0.06 }, { GgmlType.Q5_1, 0.05 },
        { GgmlType.Q8_0, 0.006 }, { GgmlType.Q4_K, 0.10 }, { GgmlType.Q5_K, 0.05 }, { GgmlType.Q6_K, 0.025 },
    };

    [Theory]
    [MemberData(nameof(QuantizedTypesWithErrorBound))]
    public void Round_trip_error_of_gaussian_weights_is_small(GgmlType type, double maxRelativeRms)
    {
        var random = new Random(17);
        var values = new float[256 * 64];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()) * 0.02);
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, values.Length)];
        BlockQuantizer.Quantize(type, values, bytes);
        var decoded = new float[values.Length];
        RowKernels.For(type).Dequantize(bytes, decoded);
        double error = 0, energy = 0;
        for (int i = 0; i < values.Length; i++)
        {
            error += (decoded[i] - values[i]) * (double)(decoded[i] - values[i]);
            energy += values[i] * (double)values[i];
        }
        double relativeRms = Math.Sqrt(error / energy);
        Assert.True(relativeRms < maxRelativeRms, $"{type}: relative RMS error {relativeRms:G4} exceeds {maxRelativeRms}");
        Assert.True(relativeRms > 0, $"{type}: a lossy format reproduced every value exactly");
    }
}

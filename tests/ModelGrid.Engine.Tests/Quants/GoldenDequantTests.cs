using System.Text.Json;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Quants;

/// <summary>golden/dequant: tensors dequantized by ggml's own to_float; ours must match within 1e-6·max|ref|.</summary>
public class GoldenDequantTests
{
    public sealed record DequantCase(string Model, string Tensor, string Type, int Rows, int Cols, string File)
    {
        public override string ToString() => $"{Model}:{Tensor} ({Type})";
    }

    public static TheoryData<DequantCase> Cases()
    {
        var options = new JsonSerializerOptions { PropertyNameCaseInsensitive = true };
        var cases = File.ReadLines(Golden.Path("dequant", "index.jsonl"))
            .Where(line => !string.IsNullOrWhiteSpace(line))
            .Select(line => JsonSerializer.Deserialize<DequantCase>(line, options)!);
        return new(cases);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dequantize_matches_ggml(DequantCase golden)
    {
        using var file = GgufFile.Open(Golden.Path("models", golden.Model + ".gguf"));
        var tensor = file.GetTensor(golden.Tensor);
        Assert.Equal(Enum.Parse<GgmlType>(golden.Type, ignoreCase: true), tensor.Type);
        Assert.Equal([golden.Cols, golden.Rows], tensor.Dimensions);

        var kernel = RowKernels.For(tensor.Type);
        var data = file.Data(tensor);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(tensor.Type, golden.Cols);
        var actual = new float[golden.Rows * golden.Cols];
        for (int r = 0; r < golden.Rows; r++)
            kernel.Dequantize(data.Slice(r * rowBytes, rowBytes), actual.AsSpan(r * golden.Cols, golden.Cols));

        var expected = ReadFloats(Golden.Path("dequant", golden.File));
        Assert.Equal(expected.Length, actual.Length);
        float tolerance = 1e-6f * expected.Max(MathF.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(actual[i] - expected[i]) <= tolerance,
                $"{golden}: element {i} (row {i / golden.Cols}, col {i % golden.Cols}) is {actual[i]}, ggml gives {expected[i]}");
    }

    static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * 4);
        return values;
    }
}

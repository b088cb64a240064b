using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed class VisionKernelsTests
{
    public static TheoryData<int> Lengths() => new(1, 7, 31, 33, 255, 256, 257, 1000);

    static float[] RandomValues(int length, int seed, float scale)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void GeluTanh_matches_its_definition(int length)
    {
        var values = RandomValues(length, length, 8);
        var expected = values.Select(x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))).ToArray();
        VisionKernels.GeluTanh(values);
        for (int i = 0; i < length; i++)
            Assert.True(Math.Abs(values[i] - expected[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])), $"[{i}]: {values[i]} vs {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void LayerNorm_matches_its_definition(int length)
    {
        var x = RandomValues(length, length, 3).Select(v => v + 5f).ToArray();
        var weight = RandomValues(length, length + 1, 2);
        var bias = RandomValues(length, length + 2, 1);
        var y = new float[length];
        VisionKernels.LayerNorm(x, weight, bias, 1e-6f, y);
        double mean = x.Average(v => (double)v);
        double variance = x.Average(v => (v - mean) * (v - mean));
        for (int i = 0; i < length; i++)
        {
            double expected = (x[i] - mean) / Math.Sqrt(variance + 1e-6) * weight[i] + bias[i];
            Assert.True(Math.Abs(y[i] - expected) <= 2e-5 * Math.Max(1, Math.Abs(expected)), $"[{i}]: {y[i]} vs {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Softmax_matches_its_definition(int length)
    {
        var values = RandomValues(length, length + 3, 30);
        double max = values.Max();
        double total = values.Sum(v => Math.Exp(v - max));
        var expected = values.Select(v => Math.Exp(v - max) / total).ToArray();
        VisionKernels.Softmax(values);
        for (int i = 0; i < length; i++)
            Assert.True(Math.Abs(values[i] - expected[i]) <= 1e-6 * Math.Max(expected[i], 1e-3), $"[{i}]: {values[i]} vs {expected[i]}");
    }
}

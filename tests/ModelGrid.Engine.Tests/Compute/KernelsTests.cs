using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Tests.Compute;

public sealed class KernelsTests
{
    public static TheoryData<int> Lengths() => new(1, 7, 8, 17, 128, 1000, 1024);

    [Theory]
    [MemberData(nameof(Lengths))]
    public void RmsNorm_matches_the_scalar_reference(int n)
    {
        var x = RandomVector(n, 1, scale: 20);
        var weight = RandomVector(n, 2, scale: 2);
        var (expected, actual) = (new float[n], new float[n]);
        Kernels.RmsNormScalar(x, weight, 1e-6f, expected);
        Kernels.RmsNorm(x, weight, 1e-6f, actual);
        Assert.Equal(Kernels.SumOfSquaresScalar(x), Kernels.SumOfSquares(x), 1e-9 * Kernels.SumOfSquaresScalar(x));
        for (int i = 0; i < n; i++)
            Assert.Equal(expected[i], actual[i], 1e-6f * MathF.Max(1, MathF.Abs(expected[i])));
    }

    [Fact]
    public void RmsNorm_gives_unit_root_mean_square_with_unit_weights()
    {
        var x = RandomVector(1024, 3, scale: 50);
        var y = new float[x.Length];
        Kernels.RmsNorm(x, Enumerable.Repeat(1f, x.Length).ToArray(), 0, y);
        Assert.Equal(1.0, Math.Sqrt(y.Sum(v => (double)v * v) / y.Length), 1e-5);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void SiluMultiply_matches_the_scalar_reference(int n)
    {
        var gate = RandomVector(n, 4, scale: 30);
        var up = RandomVector(n, 5, scale: 3);
        var expected = (float[])gate.Clone();
        Kernels.SiluMultiplyScalar(expected, up);
        Kernels.SiluMultiply(gate, up);
        for (int i = 0; i < n; i++)
            Assert.Equal(expected[i], gate[i], 2e-6f * MathF.Max(1, MathF.Abs(expected[i])));
    }

    [Fact]
    public void SiluMultiply_rejects_fewer_up_values_than_gate_values() =>
        Assert.Throws<ArgumentException>(() => Kernels.SiluMultiply(new float[16], new float[15]));

    [Theory]
    [InlineData(64, 64, 3)]
    [InlineData(128, 128, 2)]
    [InlineData(128, 64, 2)] // partial rotary dimensions
    [InlineData(24, 20, 4)] // half of 10: a scalar tail only
    public void RotateHeads_matches_the_scalar_reference(int headDim, int rotaryDimensions, int heads)
    {
        var angles = RandomVector(rotaryDimensions / 2, 6, scale: 6);
        var (cos, sin) = (angles.Select(MathF.Cos).ToArray(), angles.Select(MathF.Sin).ToArray());
        var expected = RandomVector(headDim * heads, 7, scale: 4);
        var actual = (float[])expected.Clone();
        Rope.RotateHeadsScalar(expected, headDim, cos, sin);
        Rope.RotateHeads(actual, headDim, cos, sin);
        Assert.Equal(expected, actual);
    }

    static float[] RandomVector(int n, int seed, float scale)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }
}

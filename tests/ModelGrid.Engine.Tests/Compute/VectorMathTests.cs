using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Tests.Compute;

public sealed unsafe class VectorMathTests
{
    public static TheoryData<int> Lengths() => new(1, 7, 16, 31, 33, 64, 100, 128, 255, 257);

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Dot_matches_the_scalar_reference(int n)
    {
        var (a, b) = (RandomVector(n, 1), RandomVector(n, 2));
        fixed (float* pa = a, pb = b)
        {
            float expected = VectorMath.DotScalar(pa, pb, n);
            float tolerance = 1e-5f * a.Zip(b, (x, y) => MathF.Abs(x * y)).Sum();
            Assert.InRange(VectorMath.Dot(pa, pb, n), expected - tolerance, expected + tolerance);
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void MultiplyAdd_matches_the_scalar_reference(int n)
    {
        var values = RandomVector(n, 3);
        var expected = RandomVector(n, 4);
        var actual = (float[])expected.Clone();
        fixed (float* pe = expected, pa = actual, pv = values)
        {
            VectorMath.MultiplyAddScalar(pe, pv, 0.37f, n);
            VectorMath.MultiplyAdd(pa, pv, 0.37f, n);
        }
        for (int i = 0; i < n; i++)
            Assert.Equal(expected[i], actual[i], 1e-6f);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void ScaleAdd_matches_the_scalar_reference(int n)
    {
        var values = RandomVector(n, 5);
        var expected = RandomVector(n, 6);
        var actual = (float[])expected.Clone();
        fixed (float* pe = expected, pa = actual, pv = values)
        {
            VectorMath.ScaleAddScalar(pe, 0.9f, pv, -0.3f, n);
            VectorMath.ScaleAdd(pa, 0.9f, pv, -0.3f, n);
        }
        for (int i = 0; i < n; i++)
            Assert.Equal(expected[i], actual[i], 1e-6f);
    }

    [Fact]
    public void Softmax_sums_to_one_and_keeps_order()
    {
        float[] values = [1f, 3f, -2f, 3f, 0.5f];
        Kernels.Softmax(values);
        Assert.Equal(1f, values.Sum(), 1e-6f);
        Assert.Equal(values[1], values[3]);
        Assert.True(values[1] > values[0] && values[0] > values[4] && values[4] > values[2]);
        Assert.Equal(MathF.Exp(1 - 3) / (2 + MathF.Exp(-2) + MathF.Exp(-5) + MathF.Exp(-2.5f)), values[0], 1e-6f);
    }

    static float[] RandomVector(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }
}

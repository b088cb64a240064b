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

    [Theory]
    [InlineData(1, 128)]
    [InlineData(7, 128)]
    [InlineData(9, 64)]
    [InlineData(5, 100)]
    public void DotRows_matches_the_scalar_reference(int count, int n)
    {
        const int stride = 300;
        var x = RandomVector(n, 7);
        var rows = RandomVector(stride * (count - 1) + n, 8);
        var expected = new float[count];
        var actual = new float[count];
        fixed (float* px = x, pr = rows, pe = expected, pa = actual)
        {
            VectorMath.DotRowsScalar(px, pr, stride, count, n, pe);
            VectorMath.DotRows(px, pr, stride, count, n, pa);
        }
        for (int i = 0; i < count; i++)
            Assert.Equal(expected[i], actual[i], 1e-4f);
    }

    [Theory]
    [InlineData(1, 128)]
    [InlineData(13, 128)]
    [InlineData(6, 64)]
    [InlineData(5, 100)]
    [InlineData(3, 7)]
    public void MultiplyAddRows_matches_the_scalar_reference(int count, int n)
    {
        const int stride = 300;
        var rows = RandomVector(stride * (count - 1) + n, 9);
        var weights = RandomVector(count, 10);
        var expected = RandomVector(n, 11);
        var actual = (float[])expected.Clone();
        fixed (float* pr = rows, pw = weights, pe = expected, pa = actual)
        {
            VectorMath.MultiplyAddRowsScalar(pe, pr, stride, pw, count, n);
            VectorMath.MultiplyAddRows(pa, pr, stride, pw, count, n);
        }
        for (int i = 0; i < n; i++)
            Assert.Equal(expected[i], actual[i], 1e-4f);
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

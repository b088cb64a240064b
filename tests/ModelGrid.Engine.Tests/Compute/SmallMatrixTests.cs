using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Tests.Compute;

public sealed class SmallMatrixTests
{
    /// <summary>Shapes on and off the 4-row and 8/16-column blocks, with row strides wider than the rows.</summary>
    public static TheoryData<int, int, int, int> Shapes() => new()
    {
        { 1, 1, 1, 0 },
        { 4, 16, 16, 0 },
        { 7, 13, 37, 3 },
        { 64, 128, 64, 0 },
        { 37, 64, 256, 5 },
        { 128, 45, 128, 1 },
        { 3, 9, 8, 2 },
        { 2, 128, 64, 0 },
        { 2, 61, 72, 3 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyAdd_matches_the_scalar_reference(int m, int k, int n, int padding)
    {
        var random = new Random(m * 10_000 + k * 100 + n);
        int lda = k + padding, ldb = n + padding, ldc = n + 2 * padding;
        var a = RandomMatrix(random, m, lda);
        var b = RandomMatrix(random, k, ldb);
        var start = RandomMatrix(random, m, ldc);
        var expected = (float[])start.Clone();
        var actual = (float[])start.Clone();

        SmallMatrix.MultiplyAddScalar(a, lda, b, ldb, expected, ldc, m, k, n);
        SmallMatrix.MultiplyAdd(a, lda, b, ldb, actual, ldc, m, k, n);

        AssertClose(expected, actual, 1e-5f * k);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
            {
                double sum = start[i * ldc + j];
                for (int p = 0; p < k && j < n; p++)
                    sum += (double)a[i * lda + p] * b[p * ldb + j];
                Assert.True(Math.Abs(sum - expected[i * ldc + j]) <= 1e-5 * k, $"c[{i}][{j}]: {expected[i * ldc + j]} vs {sum}");
            }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyAdd_with_a_lower_triangular_a_matches_the_full_product(int m, int k, int n, int padding)
    {
        var random = new Random(m + k + n);
        int lda = k + padding, ldb = n + padding, ldc = n + padding;
        var a = RandomMatrix(random, m, lda);
        for (int i = 0; i < m; i++)
            for (int p = i + 1; p < k; p++)
                a[i * lda + p] = 0;
        var b = RandomMatrix(random, k, ldb);
        var expected = RandomMatrix(random, m, ldc);
        var actual = (float[])expected.Clone();

        SmallMatrix.MultiplyAddScalar(a, lda, b, ldb, expected, ldc, m, k, n);
        SmallMatrix.MultiplyAdd(a, lda, b, ldb, actual, ldc, m, k, n, lowerTriangularA: true);

        AssertClose(expected, actual, 1e-5f * k);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(37)]
    [InlineData(64)]
    public void InvertUnitLowerTriangular_inverts_and_matches_the_scalar_reference(int n)
    {
        var random = new Random(n);
        int ld = n + 1;
        // Entries like −β·kᵢ·kⱼ of unit keys: below one in size; above the diagonal is garbage that must not be read.
        var a = Enumerable.Range(0, n * ld).Select(_ => (float)(random.NextDouble() - 0.5) * 0.5f).ToArray();
        var expected = new float[n * ld];
        var actual = new float[n * ld];

        SmallMatrix.InvertUnitLowerTriangularScalar(a, expected, n, ld);
        SmallMatrix.InvertUnitLowerTriangular(a, actual, n, ld);

        float largest = expected.Max(MathF.Abs);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.True(MathF.Abs(expected[i * ld + j] - actual[i * ld + j]) <= 1e-5f * largest, $"t[{i}][{j}]: {actual[i * ld + j]} vs {expected[i * ld + j]}");
        // (I − a)·t = I with a taken as strictly lower triangular.
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = actual[i * ld + j];
                for (int p = 0; p < i; p++)
                    sum -= a[i * ld + p] * (double)actual[p * ld + j];
                Assert.True(Math.Abs(sum - (i == j ? 1 : 0)) <= 1e-4 * largest, $"((I − a)·t)[{i}][{j}] = {sum}");
            }
    }

    [Fact]
    public void Transpose_swaps_rows_and_columns()
    {
        float[] source = [1, 2, 3, -1, 4, 5, 6, -1];
        var destination = new float[6];
        SmallMatrix.Transpose(source, 4, destination, 2, 3);
        Assert.Equal([1f, 4, 2, 5, 3, 6], destination);
    }

    [Fact]
    public void Too_short_a_matrix_is_an_error_naming_it()
    {
        var error = Assert.Throws<ArgumentException>(() => SmallMatrix.MultiplyAdd(new float[12], 4, new float[7], 2, new float[6], 2, 3, 4, 2));
        Assert.Equal("b", error.ParamName);
        Assert.Contains("need 8", error.Message);
    }

    static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= tolerance, $"element {i}: {actual[i]} vs {expected[i]}");
    }

    static float[] RandomMatrix(Random random, int rows, int stride) =>
        Enumerable.Range(0, rows * stride).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
}

using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;
using static ModelGrid.Engine.Tests.Quants.QuantTestData;

namespace ModelGrid.Engine.Tests.Quants;

public unsafe class RowKernelTileTests
{
    static readonly int[] BlockCounts = [1, 3, 9];
    static readonly int[] FloatLengths = [1, 15, 17, 33, 257];

    static IEnumerable<int> Lengths(GgmlType type) =>
        IsFloat(type) ? FloatLengths : BlockCounts.Select(blocks => blocks * GgmlTypeInfo.BlockSize(type));

    static BlockKernel Kernel(GgmlType type) => (BlockKernel)RowKernels.For(type);

    public static TheoryData<GgmlType> TypesWith(KernelPath path) =>
        new(KernelTypes.Where(type => Kernel(type).Paths.Contains(path)));

    public static TheoryData<GgmlType> Avx2Types => TypesWith(KernelPath.Avx2);
    public static TheoryData<GgmlType> AvxVnniTypes => TypesWith(KernelPath.AvxVnni);
    public static TheoryData<GgmlType> Avx512Types => TypesWith(KernelPath.Avx512);
    public static TheoryData<GgmlType> AllTypes => new(KernelTypes);

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Scalar_tile_equals_the_scalar_dot(GgmlType type) => AssertTileEqualsDot(type, KernelPath.Scalar);

    [SimdPathTheory(KernelPath.Avx2)]
    [MemberData(nameof(Avx2Types))]
    public void Avx2_tile_equals_the_avx2_dot(GgmlType type) => AssertTileEqualsDot(type, KernelPath.Avx2);

    [SimdPathTheory(KernelPath.AvxVnni)]
    [MemberData(nameof(AvxVnniTypes))]
    public void AvxVnni_tile_equals_the_avxvnni_dot(GgmlType type) => AssertTileEqualsDot(type, KernelPath.AvxVnni);

    [SimdPathTheory(KernelPath.Avx512)]
    [MemberData(nameof(Avx512Types))]
    public void Avx512_tile_equals_the_avx512_dot(GgmlType type) => AssertTileEqualsDot(type, KernelPath.Avx512);

    /// <summary>
    /// Every (row, token) of every tile shape — including counts that are not multiples of the preferred
    /// tile — equals that path's one-row dot bit for bit, and nothing outside the addressed outputs is written.
    /// </summary>
    static void AssertTileEqualsDot(GgmlType type, KernelPath path)
    {
        var kernel = Kernel(type);
        var random = new Random(4000 + (int)type);
        foreach (int n in Lengths(type))
        {
            // A group of 8 rows and a tail, and enough tokens (an even and an odd count) for the kernels that group rows.
            const int maxRows = RowGroups.Rows + 3, maxTokens = RowGroups.MinTokens + 1;
            long rowBytes = GgmlTypeInfo.RowBytes(type, n);
            var rows = Enumerable.Range(0, maxRows).SelectMany(_ => RandomRow(type, n, random)).ToArray();
            int encodedBytes = RowKernels.EncodedActivationBytes(kernel.Activations, n);
            int stride = encodedBytes + 5; // padding between tokens is allowed and ignored
            var activations = new byte[stride * maxTokens];
            for (int t = 0; t < maxTokens; t++)
                Encode(kernel.Activations, RandomActivations(n, random)).CopyTo(activations, t * stride);
            var expected = new float[maxRows, maxTokens];
            for (int r = 0; r < maxRows; r++)
                for (int t = 0; t < maxTokens; t++)
                    expected[r, t] = kernel.Dot(rows.AsSpan((int)(r * rowBytes), (int)rowBytes), activations.AsSpan(t * stride, encodedBytes), path);

            for (int rowCount = 1; rowCount <= maxRows; rowCount++)
            {
                for (int tokenCount = 1; tokenCount <= maxTokens; tokenCount++)
                {
                    int outputStride = rowCount + 2;
                    var output = Enumerable.Repeat(float.NaN, outputStride * tokenCount).ToArray();
                    fixed (byte* w = rows)
                    fixed (byte* a = activations)
                    fixed (float* o = output)
                        kernel.DotTile(w, rowBytes, rowCount, a, stride, tokenCount, o, outputStride, path);
                    for (int t = 0; t < tokenCount; t++)
                    {
                        for (int r = 0; r < outputStride; r++)
                        {
                            float actual = output[t * outputStride + r];
                            if (r < rowCount)
                                Assert.True(BitConverter.SingleToInt32Bits(expected[r, t]) == BitConverter.SingleToInt32Bits(actual),
                                    $"{type} {path} n={n} tile {rowCount}x{tokenCount}: row {r} token {t} is {actual}, the dot is {expected[r, t]}");
                            else
                                Assert.True(float.IsNaN(actual), $"{type} {path} n={n} tile {rowCount}x{tokenCount}: output {r} of token {t} beyond the rows was written");
                        }
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Scalar_rows_equal_the_scalar_dot(GgmlType type) => AssertRowsEqualDot(type, KernelPath.Scalar);

    [SimdPathTheory(KernelPath.Avx2)]
    [MemberData(nameof(Avx2Types))]
    public void Avx2_rows_equal_the_avx2_dot(GgmlType type) => AssertRowsEqualDot(type, KernelPath.Avx2);

    [SimdPathTheory(KernelPath.AvxVnni)]
    [MemberData(nameof(AvxVnniTypes))]
    public void AvxVnni_rows_equal_the_avxvnni_dot(GgmlType type) => AssertRowsEqualDot(type, KernelPath.AvxVnni);

    [SimdPathTheory(KernelPath.Avx512)]
    [MemberData(nameof(Avx512Types))]
    public void Avx512_rows_equal_the_avx512_dot(GgmlType type) => AssertRowsEqualDot(type, KernelPath.Avx512);

    /// <summary>
    /// The decoding pass gives each row that path's one-row dot bit for bit, for every row count (odd counts
    /// end on a partial tile), and writes no output past the rows.
    /// </summary>
    static void AssertRowsEqualDot(GgmlType type, KernelPath path)
    {
        var kernel = Kernel(type);
        var random = new Random(6000 + (int)type);
        foreach (int n in Lengths(type))
        {
            int maxRows = 2 * Q4KDecodeGroups<Avx2ByteDot>.Rows + 3;
            long rowBytes = GgmlTypeInfo.RowBytes(type, n);
            var rows = Enumerable.Range(0, maxRows).SelectMany(_ => RandomRow(type, n, random)).ToArray();
            var activations = Encode(kernel.Activations, RandomActivations(n, random));
            var expected = Enumerable.Range(0, maxRows)
                .Select(r => kernel.Dot(rows.AsSpan((int)(r * rowBytes), (int)rowBytes), activations, path)).ToArray();
            for (int rowCount = 0; rowCount <= maxRows; rowCount++)
            {
                var output = Enumerable.Repeat(float.NaN, maxRows + 1).ToArray();
                fixed (byte* w = rows)
                fixed (byte* a = activations)
                fixed (float* o = output)
                    kernel.DotRows(w, rowBytes, rowCount, a, o, path);
                for (int r = 0; r < rowCount; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[r]) == BitConverter.SingleToInt32Bits(output[r]),
                        $"{type} {path} n={n} {rowCount} rows: row {r} is {output[r]}, the dot is {expected[r]}");
                Assert.True(output.Skip(rowCount).All(float.IsNaN), $"{type} {path} n={n} {rowCount} rows: an output past the rows was written");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Rows_through_the_interface_use_the_same_path_as_dot(GgmlType type)
    {
        IRowKernel kernel = RowKernels.For(type);
        var random = new Random(7000 + (int)type);
        int n = Lengths(type).Last();
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        const int rowCount = 5;
        var rows = Enumerable.Range(0, rowCount).SelectMany(_ => RandomRow(type, n, random)).ToArray();
        var activations = Encode(kernel.Activations, RandomActivations(n, random));
        var output = new float[rowCount];
        fixed (byte* w = rows)
        fixed (byte* a = activations)
        fixed (float* o = output)
            kernel.DotRows(w, rowBytes, rowCount, a, o);
        for (int r = 0; r < rowCount; r++)
            Assert.Equal(kernel.Dot(rows.AsSpan((int)(r * rowBytes), (int)rowBytes), activations), output[r]);
    }

    [Fact]
    public void Rows_reject_rows_that_are_not_whole_blocks()
    {
        var kernel = RowKernels.For(GgmlType.Q6_K);
        var buffer = new byte[4096];
        var output = new float[4];
        var error = Assert.Throws<ArgumentException>(() =>
        {
            fixed (byte* p = buffer)
            fixed (float* o = output)
                kernel.DotRows(p, 211, 2, p, o);
        });
        Assert.Contains("210-byte blocks", error.Message);
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Tile_through_the_interface_uses_the_same_path_as_dot(GgmlType type)
    {
        IRowKernel kernel = RowKernels.For(type);
        var random = new Random(5000 + (int)type);
        int n = Lengths(type).Last();
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        int rowCount = kernel.PreferredRows + 1, tokenCount = kernel.PreferredTokens + 1;
        var rows = Enumerable.Range(0, rowCount).SelectMany(_ => RandomRow(type, n, random)).ToArray();
        int stride = RowKernels.EncodedActivationBytes(kernel.Activations, n);
        var activations = Enumerable.Range(0, tokenCount).SelectMany(_ => Encode(kernel.Activations, RandomActivations(n, random))).ToArray();
        var output = new float[rowCount * tokenCount];
        fixed (byte* w = rows)
        fixed (byte* a = activations)
        fixed (float* o = output)
            kernel.DotTile(w, rowBytes, rowCount, a, stride, tokenCount, o, rowCount);
        for (int r = 0; r < rowCount; r++)
            for (int t = 0; t < tokenCount; t++)
                Assert.Equal(kernel.Dot(rows.AsSpan((int)(r * rowBytes), (int)rowBytes), activations.AsSpan(t * stride, stride)), output[t * rowCount + r]);
    }

    [Fact]
    public void Tile_rejects_rows_that_are_not_whole_blocks()
    {
        var kernel = RowKernels.For(GgmlType.Q4_K);
        var error = Assert.Throws<ArgumentException>(() => CallTile(kernel, rowBytes: 145, activationStride: 292));
        Assert.Contains("144-byte blocks", error.Message);
    }

    [Fact]
    public void Tile_rejects_an_activation_stride_shorter_than_one_encoded_vector()
    {
        var kernel = RowKernels.For(GgmlType.Q8_0);
        var error = Assert.Throws<ArgumentException>(() => CallTile(kernel, rowBytes: 68, activationStride: 67));
        Assert.Contains("68 bytes of Q8_0", error.Message);
    }

    static void CallTile(IRowKernel kernel, long rowBytes, int activationStride)
    {
        var buffer = new byte[4096];
        var output = new float[16];
        fixed (byte* p = buffer)
        fixed (float* o = output)
            kernel.DotTile(p, rowBytes, 2, p, activationStride, 2, o, 4);
    }
}

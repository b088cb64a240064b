using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;
using static ModelGrid.Engine.Tests.Quants.QuantTestData;

namespace ModelGrid.Engine.Tests.Quants;

public class RowKernelDotTests
{
    static readonly int[] BlockCounts = [1, 3, 7, 9, 33];
    static readonly int[] FloatLengths = [1, 3, 7, 9, 31, 33, 255, 257, 1000];

    static IEnumerable<int> Lengths(GgmlType type) =>
        IsFloat(type) ? FloatLengths : BlockCounts.Select(blocks => blocks * GgmlTypeInfo.BlockSize(type));

    static BlockKernel Kernel(GgmlType type) => (BlockKernel)RowKernels.For(type);

    public static TheoryData<GgmlType> TypesWith(KernelPath path) =>
        new(KernelTypes.Where(type => Kernel(type).Paths.Contains(path)));

    public static TheoryData<GgmlType> Avx2Types => TypesWith(KernelPath.Avx2);
    public static TheoryData<GgmlType> AvxVnniTypes => TypesWith(KernelPath.AvxVnni);
    public static TheoryData<GgmlType> Avx512Types => TypesWith(KernelPath.Avx512);
    public static TheoryData<GgmlType> AllTypes => new(KernelTypes);

    [SimdPathTheory(KernelPath.Avx2)]
    [MemberData(nameof(Avx2Types))]
    public void Avx2_path_matches_scalar(GgmlType type) => AssertPathMatchesScalar(type, KernelPath.Avx2);

    [SimdPathTheory(KernelPath.AvxVnni)]
    [MemberData(nameof(AvxVnniTypes))]
    public void AvxVnni_path_matches_scalar(GgmlType type) => AssertPathMatchesScalar(type, KernelPath.AvxVnni);

    [SimdPathTheory(KernelPath.Avx512)]
    [MemberData(nameof(Avx512Types))]
    public void Avx512_path_matches_scalar(GgmlType type) => AssertPathMatchesScalar(type, KernelPath.Avx512);

    /// <summary>
    /// K-quant paths sum each super-block exactly in int32 and apply the same float operations, so they
    /// must agree bit for bit. The 32-value formats and float types accumulate floats in a different
    /// order per path: they agree to float rounding, 1e-5 of Σ|wᵢ·xᵢ|.
    /// </summary>
    static void AssertPathMatchesScalar(GgmlType type, KernelPath path)
    {
        var kernel = Kernel(type);
        var random = new Random(1000 + (int)type);
        foreach (int n in Lengths(type))
        {
            var row = RandomRow(type, n, random);
            var encoded = Encode(kernel.Activations, RandomActivations(n, random));
            float scalar = kernel.Dot(row, encoded, KernelPath.Scalar);
            float simd = kernel.Dot(row, encoded, path);
            if (type is GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K)
            {
                Assert.Equal(scalar, simd);
                continue;
            }
            var (_, magnitude) = ReferenceDot(Dequantize(kernel, row, n), Decode(kernel.Activations, encoded, n));
            Assert.True(Math.Abs(scalar - simd) <= 1e-5 * magnitude + 1e-30,
                $"{type} {path} n={n}: scalar {scalar}, simd {simd}, Σ|w·x| {magnitude}");
        }
    }

    /// <summary>The dot of the encoded vectors is the dot of what they decode to, up to float rounding.</summary>
    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Dot_equals_dot_of_decoded_weights_and_decoded_activations(GgmlType type)
    {
        var kernel = RowKernels.For(type);
        var random = new Random(2000 + (int)type);
        foreach (int n in Lengths(type))
        {
            var row = RandomRow(type, n, random);
            var encoded = Encode(kernel.Activations, RandomActivations(n, random));
            var (expected, magnitude) = ReferenceDot(Dequantize(kernel, row, n), Decode(kernel.Activations, encoded, n));
            // Q8_1 stores d·Σq as fp16: the minimum's share is off by up to 2^-11 of it.
            double minimumShare = kernel.Activations == ActivationEncoding.Q8_1 ? MinimumShare(row, encoded, n) * Math.Pow(2, -11) : 0;
            float actual = kernel.Dot(row, encoded);
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * magnitude + minimumShare + 1e-30,
                $"{type} n={n}: dot {actual}, decoded dot {expected}, Σ|w·x| {magnitude}");
        }
    }

    /// <summary>
    /// Against the float activations, the only error is the activation rounding: each xᵢ moves by at
    /// most half a quantization step, d/2 = max|x in its block|/254, plus the fp16 rounding of the block
    /// scale (2^-11 relative) for Q8_0/Q8_1. So |dot − Σwᵢxᵢ| ≤ Σ|wᵢ|·(amax/254 + 2^-11·|xᵢ|) + float rounding.
    /// F32 activations are exact.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Dot_differs_from_float_dot_only_by_activation_rounding(GgmlType type)
    {
        var kernel = RowKernels.For(type);
        var random = new Random(3000 + (int)type);
        foreach (int n in Lengths(type))
        {
            var row = RandomRow(type, n, random);
            var x = RandomActivations(n, random);
            var weights = Dequantize(kernel, row, n);
            var (expected, magnitude) = ReferenceDot(weights, x);
            var encoded = Encode(kernel.Activations, x);
            double bound = 1e-5 * magnitude;
            int block = kernel.Activations switch { ActivationEncoding.F32 => 0, ActivationEncoding.Q8_K => 256, _ => 32 };
            if (block > 0)
            {
                for (int start = 0; start < n; start += block)
                {
                    double amax = x.AsSpan(start, block).ToArray().Max(Math.Abs);
                    for (int i = start; i < start + block; i++)
                        bound += Math.Abs(weights[i]) * (amax / 254 * 1.0001 + Math.Pow(2, -11) * Math.Abs(x[i]));
                }
                if (kernel.Activations == ActivationEncoding.Q8_1)
                    bound += MinimumShare(row, encoded, n) * Math.Pow(2, -11);
            }
            float actual = kernel.Dot(row, encoded);
            Assert.True(Math.Abs(actual - expected) <= bound, $"{type} n={n}: dot {actual}, float dot {expected}, bound {bound}");
        }
    }

    /// <summary>Σ |m·s| over the blocks of a Q4_1/Q5_1 row against Q8_1 activations.</summary>
    static double MinimumShare(byte[] row, byte[] encoded, int n)
    {
        int blockBytes = row.Length / (n / 32);
        double share = 0;
        for (int b = 0; b < n / 32; b++)
            share += Math.Abs((double)(float)BitConverter.ToHalf(row, b * blockBytes + 2) * (float)BitConverter.ToHalf(encoded, b * 36 + 2));
        return share;
    }

    [Fact]
    public void Dot_rejects_activations_of_the_wrong_length()
    {
        var kernel = RowKernels.For(GgmlType.Q4_K);
        var row = RandomRow(GgmlType.Q4_K, 512, new Random(1));
        var activations = new byte[RowKernels.EncodedActivationBytes(ActivationEncoding.Q8_K, 256)];
        var error = Assert.Throws<ArgumentException>(() => kernel.Dot(row, activations));
        Assert.Contains("Q4_K", error.Message);
    }

    [Fact]
    public void Row_that_is_not_whole_blocks_is_rejected()
    {
        var kernel = RowKernels.For(GgmlType.Q8_0);
        var error = Assert.Throws<ArgumentException>(() => kernel.Dequantize(new byte[35], new float[64]));
        Assert.Contains("34-byte blocks", error.Message);
    }

    [Fact]
    public void Unsupported_type_is_named()
    {
        var error = Assert.Throws<NotSupportedException>(() => RowKernels.For(GgmlType.Q8_K));
        Assert.Contains("Q8_K", error.Message);
    }

    [Fact]
    public void Every_kernel_prefers_a_path_this_cpu_supports()
    {
        foreach (var type in KernelTypes)
            Assert.True(KernelPaths.IsSupported(Kernel(type).Preferred), $"{type} prefers {Kernel(type).Preferred}");
    }
}

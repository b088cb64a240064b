using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Quants;

/// <summary>The vectorized activation encodings write exactly the bytes of the reference quantizer.</summary>
public unsafe class ActivationEncoderTests
{
    public static TheoryData<ActivationEncoding> QuantizedEncodings => new(ActivationEncoding.Q8_0, ActivationEncoding.Q8_1, ActivationEncoding.Q8_K);

    static GgmlType BlockType(ActivationEncoding encoding) => encoding switch
    {
        ActivationEncoding.Q8_0 => GgmlType.Q8_0,
        ActivationEncoding.Q8_1 => GgmlType.Q8_1,
        _ => GgmlType.Q8_K,
    };

    static byte[] Vectorized(ActivationEncoding encoding, float[] x)
    {
        var encoded = new byte[RowKernels.EncodedActivationBytes(encoding, x.Length)];
        fixed (float* values = x)
        fixed (byte* destination = encoded)
        {
            if (encoding == ActivationEncoding.Q8_K)
                ActivationEncoder.Q8K(values, x.Length / 256, destination);
            else
                ActivationEncoder.Q8(values, x.Length / 32, destination, withSum: encoding == ActivationEncoding.Q8_1);
        }
        return encoded;
    }

    static void AssertSameBytes(ActivationEncoding encoding, float[] x, string what)
    {
        var expected = new byte[RowKernels.EncodedActivationBytes(encoding, x.Length)];
        BlockQuantizer.Quantize(BlockType(encoding), x, expected);
        var actual = Vectorized(encoding, x);
        int same = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(same == expected.Length, $"{encoding} {what}: first differing byte at {same} of {expected.Length}");
    }

    [SimdPathTheory(KernelPath.Avx2)]
    [MemberData(nameof(QuantizedEncodings))]
    public void Random_vectors_of_several_lengths_encode_to_the_reference_bytes(ActivationEncoding encoding)
    {
        int block = encoding == ActivationEncoding.Q8_K ? 256 : 32;
        var random = new Random(6000 + (int)encoding);
        foreach (int blocks in new[] { 1, 3, 7, 40 })
        {
            for (int trial = 0; trial < 20; trial++)
            {
                double magnitude = Math.Pow(10, random.Next(-6, 5));
                var x = Enumerable.Range(0, blocks * block).Select(_ => (float)((random.NextDouble() * 2 - 1) * magnitude)).ToArray();
                AssertSameBytes(encoding, x, $"{blocks} blocks, scale {magnitude}");
            }
        }
    }

    /// <summary>Values landing exactly on .5 after scaling: Q8_0/Q8_1 round them away from zero, Q8_K to even.</summary>
    [SimdPathTheory(KernelPath.Avx2)]
    [MemberData(nameof(QuantizedEncodings))]
    public void Halfway_values_round_as_the_reference_does(ActivationEncoding encoding)
    {
        int block = encoding == ActivationEncoding.Q8_K ? 256 : 32;
        // With max |x| = 127 the scale is exactly 1 (Q8_K: the maximum is −127, so inverse = 1).
        var x = Enumerable.Range(0, block).Select(i => (i % 2 == 0 ? 1 : -1) * (i % 126 + 0.5f)).ToArray();
        x[5] = -127;
        AssertSameBytes(encoding, x, "halfway values");
    }

    [SimdPathTheory(KernelPath.Avx2)]
    [MemberData(nameof(QuantizedEncodings))]
    public void Zero_blocks_and_ties_for_the_largest_magnitude_encode_to_the_reference_bytes(ActivationEncoding encoding)
    {
        int block = encoding == ActivationEncoding.Q8_K ? 256 : 32;
        var random = new Random(7000 + (int)encoding);
        var x = Enumerable.Range(0, 3 * block).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        Array.Clear(x, 0, block);
        x[block + 9] = 3f; // the first of the two largest magnitudes sets the sign of Q8_K's scale
        x[block + 200 % block] = -3f;
        x[2 * block + 1] = float.Epsilon;
        AssertSameBytes(encoding, x, "zero block, tied maxima, subnormal");
    }
}

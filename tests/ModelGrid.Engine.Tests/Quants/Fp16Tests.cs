using System.Runtime.Intrinsics;
using ModelGrid.Engine.Quants;

namespace ModelGrid.Engine.Tests.Quants;

/// <summary>Every one of the 65,536 fp16 bit patterns widens to exactly the float .NET's Half gives (NaNs stay NaN).</summary>
public class Fp16Tests
{
    static void AssertWidensLikeHalf(ushort bits, float actual)
    {
        float expected = (float)BitConverter.UInt16BitsToHalf(bits);
        if (float.IsNaN(expected))
            Assert.True(float.IsNaN(actual), $"0x{bits:X4} should widen to NaN, got {actual}");
        else
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"0x{bits:X4}: expected {expected}, got {actual}");
    }

    [Fact]
    public void Scalar_widening_is_exact()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
            AssertWidensLikeHalf((ushort)bits, Fp16.ToSingle((ushort)bits));
    }

    [SimdPathFact(KernelPath.Avx2)]
    public void Avx2_widening_is_exact()
    {
        for (int start = 0; start <= ushort.MaxValue; start += 8)
        {
            var widened = Fp16.Widen(Vector128.Create((ushort)start, (ushort)(start + 1), (ushort)(start + 2), (ushort)(start + 3),
                (ushort)(start + 4), (ushort)(start + 5), (ushort)(start + 6), (ushort)(start + 7)));
            for (int i = 0; i < 8; i++)
                AssertWidensLikeHalf((ushort)(start + i), widened[i]);
        }
    }

    [SimdPathFact(KernelPath.Avx512)]
    public void Avx512_widening_is_exact()
    {
        var lanes = new ushort[16];
        for (int start = 0; start <= ushort.MaxValue; start += 16)
        {
            for (int i = 0; i < 16; i++)
                lanes[i] = (ushort)(start + i);
            var widened = Fp16.Widen(Vector256.Create(lanes));
            for (int i = 0; i < 16; i++)
                AssertWidensLikeHalf(lanes[i], widened[i]);
        }
    }

    [Fact]
    public void Narrowing_rounds_to_nearest_even()
    {
        Assert.Equal(0x3C00, Fp16.FromSingle(1.0f + MathF.Pow(2, -11))); // halfway between 1 and the next half: to even (1)
        Assert.Equal(0x3C02, Fp16.FromSingle(1.0f + 3 * MathF.Pow(2, -11))); // halfway between 1+2^-10 and 1+2^-9: to even
        Assert.Equal(0x7C00, Fp16.FromSingle(70000f));
    }
}

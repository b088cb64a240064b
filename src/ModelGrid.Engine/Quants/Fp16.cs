using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// IEEE binary16 and bfloat16 conversions, exact in both directions as F16C/ggml do them.
/// .NET exposes no <c>vcvtph2ps</c>, so the vector forms rebuild the float bits: shifting the
/// exponent+mantissa into float position and multiplying by 2^112 re-biases normals and
/// subnormals alike; only Inf/NaN need a separate exponent.
/// </summary>
internal static class Fp16
{
    const uint ExponentRebias = 0x77800000; // 2^112 as float bits
    const uint HalfInfinity = 0x7C00;
    const uint FloatInfinityBits = 0x7F800000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort half)
    {
        uint magnitude = half & 0x7FFFu;
        uint sign = (uint)(half & 0x8000) << 16;
        uint bits = magnitude >= HalfInfinity
            ? (magnitude << 13) | FloatInfinityBits
            : BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(magnitude << 13) * BitConverter.UInt32BitsToSingle(ExponentRebias));
        return BitConverter.UInt32BitsToSingle(bits | sign);
    }

    // Block scales are widened once per block in the dot loops; a table lookup (as ggml keeps
    // ggml_table_f32_f16 for CPUs without F16C) is cheaper there than the bit arithmetic.
    static readonly float[] Table = BuildTable();

    static float[] BuildTable()
    {
        var table = new float[65536];
        for (int bits = 0; bits < table.Length; bits++)
            table[bits] = ToSingle((ushort)bits);
        return table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Load(byte* p) => Table[Unsafe.ReadUnaligned<ushort>(p)];

    /// <summary>Round to nearest even, like <c>_cvtss_sh(x, 0)</c>.</summary>
    public static ushort FromSingle(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen(Vector128<ushort> halves) => FromHalfBits(Avx2.ConvertToVector256Int32(halves).AsUInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen(Vector256<ushort> halves) => FromHalfBits(Avx512F.ConvertToVector512Int32(halves).AsUInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> FromHalfBits(Vector256<uint> bits)
    {
        var magnitude = bits & Vector256.Create(0x7FFFu);
        var sign = (bits & Vector256.Create(0x8000u)) << 16;
        var shifted = magnitude << 13;
        var finite = (shifted.AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(ExponentRebias))).AsUInt32();
        var special = shifted | Vector256.Create(FloatInfinityBits);
        var isSpecial = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(HalfInfinity));
        return (Vector256.ConditionalSelect(isSpecial, special, finite) | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> FromHalfBits(Vector512<uint> bits)
    {
        var magnitude = bits & Vector512.Create(0x7FFFu);
        var sign = (bits & Vector512.Create(0x8000u)) << 16;
        var shifted = magnitude << 13;
        var finite = (shifted.AsSingle() * Vector512.Create(BitConverter.UInt32BitsToSingle(ExponentRebias))).AsUInt32();
        var special = shifted | Vector512.Create(FloatInfinityBits);
        var isSpecial = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(HalfInfinity));
        return (Vector512.ConditionalSelect(isSpecial, special, finite) | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WidenBFloat16(Vector128<ushort> bits) => (Avx2.ConvertToVector256Int32(bits).AsUInt32() << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WidenBFloat16(Vector256<ushort> bits) => (Avx512F.ConvertToVector512Int32(bits).AsUInt32() << 16).AsSingle();
}

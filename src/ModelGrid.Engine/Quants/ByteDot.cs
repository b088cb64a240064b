using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// The two 256-bit integer multiply-accumulate steps every quantized dot is built from. Kernels are
/// generic over this (struct type arguments are specialised and inlined by the JIT), so the AVX2 and
/// AVX-VNNI paths share one body.
/// </summary>
internal interface IByteDot256
{
    /// <summary>acc + the sums of four adjacent u8×s8 products per int lane.</summary>
    static abstract Vector256<int> DotBytes(Vector256<int> acc, Vector256<byte> unsigned, Vector256<sbyte> signed);

    /// <summary>acc + the sums of two adjacent i16×i16 products per int lane.</summary>
    static abstract Vector256<int> DotShorts(Vector256<int> acc, Vector256<short> left, Vector256<short> right);
}

internal readonly struct Avx2ByteDot : IByteDot256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotBytes(Vector256<int> acc, Vector256<byte> unsigned, Vector256<sbyte> signed) =>
        Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(unsigned, signed), Vector256<short>.One));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotShorts(Vector256<int> acc, Vector256<short> left, Vector256<short> right) =>
        Avx2.Add(acc, Avx2.MultiplyAddAdjacent(left, right));
}

internal readonly struct VnniByteDot : IByteDot256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotBytes(Vector256<int> acc, Vector256<byte> unsigned, Vector256<sbyte> signed) =>
        AvxVnni.MultiplyWideningAndAdd(acc, unsigned, signed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotShorts(Vector256<int> acc, Vector256<short> left, Vector256<short> right) =>
        AvxVnni.MultiplyWideningAndAdd(acc, left, right);
}

/// <summary>Unpacking helpers shared by the SIMD kernels.</summary>
internal static unsafe class SimdBlocks
{
    /// <summary>s8·s8 through the u8·s8 instruction: |x| · (y with x's sign).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotSigned<TDot>(Vector256<int> acc, Vector256<sbyte> x, Vector256<sbyte> y) where TDot : struct, IByteDot256 =>
        TDot.DotBytes(acc, Avx2.Abs(x), Avx2.Sign(y, x));

    /// <summary>16 packed bytes → 32 values: low nibbles first (elements 0..15), then high nibbles (16..31), as ggml orders a 32-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> SpreadNibbles(byte* packed)
    {
        var bytes = Vector128.Load(packed);
        var low = Vector128.Create((byte)0x0F);
        return Vector256.Create(bytes & low, (bytes.AsUInt16() >>> 4).AsByte() & low);
    }

    /// <summary>Bit i of a 32-bit little-endian mask → byte i = 0xFF if set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> SpreadBits(uint bits)
    {
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(), Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var allButBit = Vector256.Create(0x7FBFDFEFF7FBFDFEUL).AsByte();
        return Vector256.Equals(spread | allButBit, Vector256<byte>.AllBitsSet);
    }

    /// <summary>(v >> shift) &amp; mask per byte (shifting 16-bit lanes; the mask drops the bits that crossed bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Bits(Vector256<byte> v, int shift, byte mask) =>
        (v.AsUInt16() >>> shift).AsByte() & Vector256.Create(mask);

    /// <summary>
    /// The scale vector for 32 consecutive values of a K-quant super-block: the first 16 values (8 pair
    /// sums of <c>vpmaddubsw</c>) take sub-block scale 2g, the next 16 take 2g + 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> ScalePair(Vector256<short> scales16, int group)
    {
        var pair = Avx2.PermuteVar8x32(scales16.AsInt32(), Vector256.Create(group));
        return Avx2.Shuffle(pair.AsByte(), Vector256.Create(
            (byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3)).AsInt16();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> LoadShorts(byte* p) => Vector256.Load((short*)p);
}

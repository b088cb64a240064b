using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// One of ggml's 32-value block formats: fp16 scale d first, for <see cref="HasMin"/> formats an fp16
/// minimum m next (value = q·d + m, q unsigned), otherwise value = q·d with q signed.
/// </summary>
internal unsafe interface ILegacyFormat
{
    static abstract GgmlType Type { get; }

    static abstract bool HasMin { get; }

    static abstract int BlockBytes { get; }

    /// <summary>What <see cref="UnsignedQuants"/> adds to each quant (0 for <see cref="HasMin"/> formats, whose quants are unsigned).</summary>
    static abstract byte Offset { get; }

    /// <summary>Quant <paramref name="index"/> (0..31) of the block as an integer (signed unless <see cref="HasMin"/>).</summary>
    static abstract int Quant(byte* block, int index);

    /// <summary>All 32 quants in element order, as bytes (two's complement when signed).</summary>
    static abstract Vector256<byte> Quants(byte* block);

    /// <summary>All 32 quants plus <see cref="Offset"/>, as unsigned bytes for <c>vpdpbusd</c>/<c>vpmaddubsw</c>.</summary>
    static abstract Vector256<byte> UnsignedQuants(byte* block);
}

/// <summary>Q8_0: fp16 d, int8 qs[32].</summary>
internal readonly unsafe struct Q8_0Format : ILegacyFormat
{
    public static GgmlType Type => GgmlType.Q8_0;

    public static bool HasMin => false;

    public static int BlockBytes => 34;

    public static byte Offset => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Quant(byte* block, int index) => (sbyte)block[2 + index];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Vector256.Load(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnsignedQuants(byte* block) => Vector256.Load(block + 2) ^ Vector256.Create((byte)0x80);
}

/// <summary>Q4_0: fp16 d, qs[16]; element j is the low nibble of qs[j], element j+16 its high nibble; q = nibble − 8.</summary>
internal readonly unsafe struct Q4_0Format : ILegacyFormat
{
    public static GgmlType Type => GgmlType.Q4_0;

    public static bool HasMin => false;

    public static int BlockBytes => 18;

    public static byte Offset => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Quant(byte* block, int index) => Nibble(block + 2, index) - 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => SimdBlocks.SpreadNibbles(block + 2) - Vector256.Create((byte)8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Nibble(byte* packed, int index) => index < 16 ? packed[index] & 0x0F : packed[index - 16] >> 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnsignedQuants(byte* block) => SimdBlocks.SpreadNibbles(block + 2);
}

/// <summary>Q4_1: fp16 d, fp16 m, qs[16] packed as in Q4_0; q = nibble.</summary>
internal readonly unsafe struct Q4_1Format : ILegacyFormat
{
    public static GgmlType Type => GgmlType.Q4_1;

    public static bool HasMin => true;

    public static int BlockBytes => 20;

    public static byte Offset => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Quant(byte* block, int index) => Q4_0Format.Nibble(block + 4, index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => SimdBlocks.SpreadNibbles(block + 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnsignedQuants(byte* block) => Quants(block);
}

/// <summary>Q5_0: fp16 d, uint32 qh (bit j = fifth bit of element j), qs[16] as in Q4_0; q = (nibble | bit·16) − 16.</summary>
internal readonly unsafe struct Q5_0Format : ILegacyFormat
{
    public static GgmlType Type => GgmlType.Q5_0;

    public static bool HasMin => false;

    public static int BlockBytes => 22;

    public static byte Offset => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Quant(byte* block, int index) => FiveBit(block + 2, index) - 16;

    // For a clear fifth bit, nibble | 0xF0 is already nibble − 16 as an int8.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) =>
        SimdBlocks.SpreadNibbles(block + 6) | Vector256.AndNot(Vector256.Create((byte)0xF0), SimdBlocks.SpreadBits(Unsafe.ReadUnaligned<uint>(block + 2)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int FiveBit(byte* highBitsThenNibbles, int index)
    {
        uint high = Unsafe.ReadUnaligned<uint>(highBitsThenNibbles);
        return Q4_0Format.Nibble(highBitsThenNibbles + 4, index) | (int)((high >> index) & 1) << 4;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnsignedQuants(byte* block) => SimdBlocks.SpreadNibbles(block + 6) | (SimdBlocks.SpreadBits(Unsafe.ReadUnaligned<uint>(block + 2)) & Vector256.Create((byte)0x10));
}

/// <summary>Q5_1: fp16 d, fp16 m, uint32 qh, qs[16]; q = nibble | bit·16.</summary>
internal readonly unsafe struct Q5_1Format : ILegacyFormat
{
    public static GgmlType Type => GgmlType.Q5_1;

    public static bool HasMin => true;

    public static int BlockBytes => 24;

    public static byte Offset => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Quant(byte* block, int index) => Q5_0Format.FiveBit(block + 4, index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) =>
        SimdBlocks.SpreadNibbles(block + 8) | (SimdBlocks.SpreadBits(Unsafe.ReadUnaligned<uint>(block + 4)) & Vector256.Create((byte)0x10));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnsignedQuants(byte* block) => Quants(block);
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Pieces shared by the 256-value super-block formats. Their dots run against Q8_K activations
/// (f32 d at 0, int8 qs[256] at 4, int16 bsums[16] at 260: sums of each 16 quants), accumulate the
/// whole super-block as exact int32 and apply the float scales once, so every path gives the same bits.
/// </summary>
internal static unsafe class KQuants
{
    public const int ActivationBlockBytes = 292;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ActivationScale(byte* block) => Unsafe.ReadUnaligned<float>(block);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* ActivationQuants(byte* block) => (sbyte*)(block + 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short* ActivationSums(byte* block) => (short*)(block + 260);

    /// <summary>
    /// Q4_K/Q5_K's 12 scale bytes → [scale 0..7, min 0..7], six bits each: scale/min j &lt; 4 are the low
    /// six bits of bytes j / j+4; for j ≥ 4 the low four bits come from byte j+4's low/high nibble and
    /// the top two from the top bits of byte j−4 / j (ggml's get_scale_min_k4, done four at a time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ScalesAndMins(byte* packed)
    {
        uint a0 = Unsafe.ReadUnaligned<uint>(packed), a1 = Unsafe.ReadUnaligned<uint>(packed + 4), a2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        const uint low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, low2 = 0x03030303;
        uint scales0 = a0 & low6;
        uint scales1 = (a2 & low4) | (((a0 >> 6) & low2) << 4);
        uint mins0 = a1 & low6;
        uint mins1 = ((a2 >> 4) & low4) | (((a1 >> 6) & low2) << 4);
        return Vector128.Create(scales0, scales1, mins0, mins1).AsByte();
    }

    /// <summary>
    /// Q3_K's 12 scale bytes → 16 signed scales (stored value − 32): scale j's low four bits are the low
    /// (j &lt; 8) or high (j ≥ 8) nibble of byte j mod 8, its top two bits are bits 2(j/4)..+1 of byte 8 + j mod 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Q3Scales(byte* packed)
    {
        uint a0 = Unsafe.ReadUnaligned<uint>(packed), a1 = Unsafe.ReadUnaligned<uint>(packed + 4), high = Unsafe.ReadUnaligned<uint>(packed + 8);
        const uint low4 = 0x0F0F0F0F, low2 = 0x03030303;
        uint s0 = (a0 & low4) | ((high & low2) << 4);
        uint s1 = (a1 & low4) | (((high >> 2) & low2) << 4);
        uint s2 = ((a0 >> 4) & low4) | (((high >> 4) & low2) << 4);
        uint s3 = ((a1 >> 4) & low4) | (((high >> 6) & low2) << 4);
        return Vector128.Create(s0, s1, s2, s3).AsSByte() - Vector128.Create((sbyte)32);
    }

    /// <summary>The eight bytes <paramref name="first"/>.. of <paramref name="bytes"/>, each repeated twice and widened to 16 shorts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> DuplicateEight(Vector128<byte> bytes, int first)
    {
        byte f = (byte)first;
        var spread = Ssse3.Shuffle(bytes, Vector128.Create(f, f, (byte)(f + 1), (byte)(f + 1), (byte)(f + 2), (byte)(f + 2), (byte)(f + 3), (byte)(f + 3),
            (byte)(f + 4), (byte)(f + 4), (byte)(f + 5), (byte)(f + 5), (byte)(f + 6), (byte)(f + 6), (byte)(f + 7), (byte)(f + 7)));
        return Avx2.ConvertToVector256Int16(spread);
    }

    /// <summary>Σ a[i]·b[i] over 16 shorts, as 8 int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAdd16(short* a, Vector256<short> b) => Avx2.MultiplyAddAdjacent(Vector256.Load(a), b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairSums(Vector256<byte> unsigned, sbyte* signed) => Avx2.MultiplyAddAdjacent(unsigned, Vector256.Load(signed));
}

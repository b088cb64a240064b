using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Q6_K super-block (210 bytes): ql[128] low nibbles, qh[64] top two bits, int8 scales[16], fp16 d.
/// In half n (128 values) and for l &lt; 32, with L = ql[64n..], H = qh[32n..]: value l takes L[l] low
/// nibble and H[l] bits 0–1, value 32+l takes L[32+l] low and bits 2–3, 64+l takes L[l] high and bits
/// 4–5, 96+l takes L[32+l] high and bits 6–7; value = d·scale[16-value sub-block]·(q − 32).
/// </summary>
internal sealed unsafe class Q6KKernel() : SuperBlockKernel<Q6KFormat>(GgmlType.Q6_K, KernelPath.Avx512, KernelPath.AvxVnni, KernelPath.Avx2)
{
    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes)
        {
            float d = Fp16.Load(row + 208);
            byte* ql = row, qh = row + 128;
            var sc = (sbyte*)(row + 192);
            for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, destination += 128)
            {
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    destination[l] = d * sc[s] * Quant(ql, qh, l, 0);
                    destination[l + 32] = d * sc[s + 2] * Quant(ql, qh, l, 1);
                    destination[l + 64] = d * sc[s + 4] * Quant(ql, qh, l, 2);
                    destination[l + 96] = d * sc[s + 6] * Quant(ql, qh, l, 3);
                }
            }
        }
    }

    /// <summary>Signed quant of value 32·<paramref name="quarter"/> + l of a half.</summary>
    static int Quant(byte* ql, byte* qh, int l, int quarter)
    {
        int low = (ql[l + 32 * (quarter & 1)] >> (4 * (quarter >> 1))) & 0x0F;
        int high = (qh[l] >> (2 * quarter)) & 3;
        return (low | high << 4) - 32;
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += KQuants.ActivationBlockBytes)
        {
            sbyte* y = KQuants.ActivationQuants(activations);
            var sc = (sbyte*)(row + 192);
            int isum = 0;
            for (int n = 0; n < 2; n++)
            {
                byte* ql = row + 64 * n, qh = row + 128 + 32 * n;
                for (int quarter = 0; quarter < 4; quarter++)
                {
                    for (int half = 0; half < 2; half++)
                    {
                        int partial = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++)
                            partial += Quant(ql, qh, l, quarter) * y[128 * n + 32 * quarter + l];
                        isum += sc[8 * n + 2 * quarter + half] * partial;
                    }
                }
            }
            sum += Fp16.Load(row + 208) * KQuants.ActivationScale(activations) * isum;
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => DotByRows<Q6KRows256<Avx2ByteDot>>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => DotByRows<Q6KRows256<VnniByteDot>>(row, activations, blocks);

    protected override void TileAvx2(in TileArgs tile) => TileWithRows<Q6KRows256<Avx2ByteDot>>(tile, KernelPath.Avx2);

    protected override void TileAvxVnni(in TileArgs tile) => TileWithRows<Q6KRows256<VnniByteDot>>(tile, KernelPath.AvxVnni);

    protected override float DotAvx512(byte* row, byte* activations, int blocks) => DotByRows<Q6KRows512>(row, activations, blocks);

    protected override void TileAvx512(in TileArgs tile) => TileAvx512<Q6KRows512>(tile);
}

internal readonly unsafe struct Q6KFormat : ISuperBlockFormat
{
    public static int BlockBytes => 210;

    public static bool HasMins => false;

    public static int OffsetShift => 5;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scales(byte* block, out Vector256<short> scales, out Vector256<short> mins)
    {
        scales = Avx2.ConvertToVector256Int16(Vector128.Load((sbyte*)(block + 192)));
        mins = default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block, int chunk) =>
        SimdBlocks.Bits(Vector256.Load(block + 64 * (chunk >> 2) + 32 * (chunk & 1)), 4 * ((chunk >> 1) & 1), 0x0F) | (SimdBlocks.Bits(Vector256.Load(block + 128 + 32 * (chunk >> 2)), 2 * (chunk & 3), 3).AsUInt16() << 4).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block) => Fp16.Load(block + 208);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MinScale(byte* block) => 0;
}

/// <summary>
/// Up to four Q6_K rows against one Q8_K vector (decoding), 64 values per 512-bit step: two 32-value chunks
/// of a half assembled side by side from one 64-byte load of low nibbles, <c>vpmaddubsw</c> against the 64
/// activations, <c>vpmaddwd</c> by the four 16-value scales. Quants are unsigned (0..63) and the −32 offset
/// comes back as 32·Σ scale·bsum; the int32 sums are exact and the float step is the scalar reference's.
/// </summary>
internal readonly unsafe struct Q6KRows512 : IRowsKernel
{
    // Fully optimized at the first call: tier-0 vector code is many times slower, and the first tokens ran on it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TRows>(in TileArgs tile) where TRows : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a = tile.Activations;
        // Four int lanes (eight pair sums, 16 values) per scale: scales 4k..4k+3 for the k-th 64 values.
        var fourScales = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        var sum = Vector128<float>.Zero;
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int b = 0; b < tile.Blocks; b++)
        {
            ahead.Step(TRows.Value * 210);
            var y0 = Vector512.Load((sbyte*)a + 4);
            var y1 = Vector512.Load((sbyte*)a + 68);
            var y2 = Vector512.Load((sbyte*)a + 132);
            var y3 = Vector512.Load((sbyte*)a + 196);
            var bsums = Vector256.Load(KQuants.ActivationSums(a));
            Vector256<int> i1 = default, i2 = default, i3 = default;
            var i0 = Row(w0, y0, y1, y2, y3, bsums, fourScales);
            if (TRows.Value > 1)
                i1 = Row(w1, y0, y1, y2, y3, bsums, fourScales);
            if (TRows.Value > 2)
                i2 = Row(w2, y0, y1, y2, y3, bsums, fourScales);
            if (TRows.Value > 3)
                i3 = Row(w3, y0, y1, y2, y3, bsums, fourScales);
            var isum = Vector128.ConvertToSingle(TileShapes.SumEach(i0, i1, i2, i3));
            var d = Vector128.Create(Fp16.Load(w0 + 208), Fp16.Load(w1 + 208), Fp16.Load(w2 + 208), Fp16.Load(w3 + 208));
            sum += d * Vector128.Create(KQuants.ActivationScale(a)) * isum;
            w0 += 210; w1 += 210; w2 += 210; w3 += 210;
            a += KQuants.ActivationBlockBytes;
        }
        for (int r = 0; r < TRows.Value; r++)
            tile.Store<TRows, One>(r, 0, sum.GetElement(r));
    }

    /// <summary>One row's super-block, Σ scale·(q − 32)·y as 8 int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Row(byte* w, Vector512<sbyte> y0, Vector512<sbyte> y1, Vector512<sbyte> y2, Vector512<sbyte> y3,
        Vector256<short> bsums, Vector512<int> fourScales)
    {
        var packed = Vector128.Load((sbyte*)(w + 192));
        var wide = Avx512F.ConvertToVector512Int32(packed);
        var scales = (wide & Vector512.Create(0xFFFF)) | (wide << 16);
        var acc = Half(w, w + 128, y0, y1, scales, fourScales, fourScales + Vector512.Create(4));
        acc += Half(w + 64, w + 160, y2, y3, scales, fourScales + Vector512.Create(8), fourScales + Vector512.Create(12));
        var offsets = Avx2.MultiplyAddAdjacent(bsums, Avx2.ConvertToVector256Int16(packed));
        return acc.GetLower() + acc.GetUpper() - (offsets << 5);
    }

    /// <summary>128 values: low nibbles at <paramref name="low"/> (64 bytes), top two bits at <paramref name="high"/> (32 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Half(byte* low, byte* high, Vector512<sbyte> y01, Vector512<sbyte> y23, Vector512<int> scales, Vector512<int> pick01, Vector512<int> pick23)
    {
        var nibbles = Vector512.Load(low);
        var h = Vector256.Load(high);
        var tops = Vector512.Create(h, (h.AsUInt16() >>> 2).AsByte());
        var lowNibble = Vector512.Create((byte)0x0F);
        var twoBits = Vector512.Create((byte)0x03);
        var q01 = (nibbles & lowNibble) | ((tops & twoBits).AsUInt16() << 4).AsByte();
        var q23 = ((nibbles.AsUInt16() >>> 4).AsByte() & lowNibble) | (((tops.AsUInt16() >>> 4).AsByte() & twoBits).AsUInt16() << 4).AsByte();
        var acc = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q01, y01), Avx512F.PermuteVar16x32(scales, pick01).AsInt16());
        return acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q23, y23), Avx512F.PermuteVar16x32(scales, pick23).AsInt16());
    }
}

/// <summary>
/// Up to four Q6_K rows against one Q8_K vector (decoding) in 256-bit steps: per 128 values one load of low nibbles
/// for each half and one of top bits, <c>vpmaddubsw</c> against the activations, <c>vpmaddwd</c> by the pair of 16-value
/// scales. Quants are unsigned (0..63) and the −32 offset comes back as 32·Σ scale·bsum; the int32 sums are exact and
/// the float step is the scalar reference's, four rows per horizontal sum.
/// </summary>
internal readonly unsafe struct Q6KRows256<TDot> : IRowsKernel where TDot : struct, IByteDot256
{
    // Fully optimized at the first call: tier-0 vector code is many times slower, and the first tokens ran on it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TRows>(in TileArgs tile) where TRows : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a = tile.Activations;
        var sum = Vector128<float>.Zero;
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int b = 0; b < tile.Blocks; b++)
        {
            ahead.Step(TRows.Value * 210);
            sbyte* y = KQuants.ActivationQuants(a);
            var bsums = Vector256.Load(KQuants.ActivationSums(a));
            Vector256<int> i1 = default, i2 = default, i3 = default;
            var i0 = Row(w0, y, bsums);
            if (TRows.Value > 1)
                i1 = Row(w1, y, bsums);
            if (TRows.Value > 2)
                i2 = Row(w2, y, bsums);
            if (TRows.Value > 3)
                i3 = Row(w3, y, bsums);
            var d = Vector128.Create(Fp16.Load(w0 + 208), Fp16.Load(w1 + 208), Fp16.Load(w2 + 208), Fp16.Load(w3 + 208));
            sum += d * Vector128.Create(KQuants.ActivationScale(a)) * Vector128.ConvertToSingle(TileShapes.SumEach(i0, i1, i2, i3));
            w0 += 210; w1 += 210; w2 += 210; w3 += 210;
            a += KQuants.ActivationBlockBytes;
        }
        for (int r = 0; r < TRows.Value; r++)
            tile.Store<TRows, One>(r, 0, sum.GetElement(r));
    }

    /// <summary>One row's super-block, Σ scale·(q − 32)·y as 8 int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Row(byte* w, sbyte* y, Vector256<short> bsums)
    {
        var packed = Vector128.Load((sbyte*)(w + 192));
        // The even scales in the low half and the odd ones in the high half: one in-lane shuffle then gives 32 values'
        // pair of scales (a cross-lane permute and a shuffle from the scales in order).
        var byPair = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(packed, EvenThenOdd));
        var acc = Half(Vector256<int>.Zero, w, w + 128, y, byPair, 0);
        acc = Half(acc, w + 64, w + 160, y + 128, byPair, 4);
        return acc - (Avx2.MultiplyAddAdjacent(bsums, Avx2.ConvertToVector256Int16(packed)) << 5);
    }

    static Vector128<sbyte> EvenThenOdd => Vector128.Create((sbyte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);

    /// <summary>Scales 2k (elements 0..7) and 2k + 1 (8..15) of <paramref name="byPair"/>'s even | odd halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Pair(Vector256<short> byPair, int k) =>
        Avx2.Shuffle(byPair.AsByte(), Vector256.Create((short)((2 * k + 1) << 8 | 2 * k)).AsByte()).AsInt16();

    /// <summary>128 values: low nibbles at <paramref name="low"/> (64 bytes), top two bits at <paramref name="high"/> (32 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Half(Vector256<int> acc, byte* low, byte* high, sbyte* y, Vector256<short> byPair, int firstPair)
    {
        var lowNibbles = Vector256.Create((byte)0x0F);
        var ql0 = Vector256.Load(low);
        var ql1 = Vector256.Load(low + 32);
        var qh = Vector256.Load(high);
        var q0 = (ql0 & lowNibbles) | (SimdBlocks.Bits(qh, 0, 3).AsUInt16() << 4).AsByte();
        var q1 = (ql1 & lowNibbles) | (SimdBlocks.Bits(qh, 2, 3).AsUInt16() << 4).AsByte();
        var q2 = SimdBlocks.Bits(ql0, 4, 0x0F) | (SimdBlocks.Bits(qh, 4, 3).AsUInt16() << 4).AsByte();
        var q3 = SimdBlocks.Bits(ql1, 4, 0x0F) | (SimdBlocks.Bits(qh, 6, 3).AsUInt16() << 4).AsByte();
        acc = TDot.DotShorts(acc, KQuants.PairSums(q0, y), Pair(byPair, firstPair));
        acc = TDot.DotShorts(acc, KQuants.PairSums(q1, y + 32), Pair(byPair, firstPair + 1));
        acc = TDot.DotShorts(acc, KQuants.PairSums(q2, y + 64), Pair(byPair, firstPair + 2));
        return TDot.DotShorts(acc, KQuants.PairSums(q3, y + 96), Pair(byPair, firstPair + 3));
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Q4_K super-block (144 bytes): fp16 d, fp16 dmin, scales[12] (eight 6-bit scale/min pairs, see
/// <see cref="KQuants.ScalesAndMins"/>), qs[128]. Chunk c (qs[32c..32c+31]) holds sub-block 2c in its
/// low nibbles and sub-block 2c+1 in its high nibbles; value = d·scale[g]·q − dmin·min[g].
/// </summary>
internal sealed unsafe class Q4KKernel() : SuperBlockKernel<Q4KFormat>(GgmlType.Q4_K, KernelPath.Avx512, KernelPath.AvxVnni, KernelPath.Avx2)
{
    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes)
        {
            float d = Fp16.Load(row), min = Fp16.Load(row + 2);
            var scalesAndMins = KQuants.ScalesAndMins(row + 4);
            byte* q = row + 16;
            for (int c = 0; c < 4; c++, q += 32, destination += 64)
            {
                float d1 = d * scalesAndMins[2 * c], m1 = min * scalesAndMins[8 + 2 * c];
                float d2 = d * scalesAndMins[2 * c + 1], m2 = min * scalesAndMins[8 + 2 * c + 1];
                for (int l = 0; l < 32; l++)
                    destination[l] = d1 * (q[l] & 0x0F) - m1;
                for (int l = 0; l < 32; l++)
                    destination[32 + l] = d2 * (q[l] >> 4) - m2;
            }
        }
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += KQuants.ActivationBlockBytes)
        {
            var scalesAndMins = KQuants.ScalesAndMins(row + 4);
            sbyte* y = KQuants.ActivationQuants(activations);
            short* sums = KQuants.ActivationSums(activations);
            int minimums = 0, isum = 0;
            for (int g = 0; g < 8; g++)
                minimums += scalesAndMins[8 + g] * (sums[2 * g] + sums[2 * g + 1]);
            byte* q = row + 16;
            for (int c = 0; c < 4; c++, q += 32, y += 64)
            {
                int low = 0, high = 0;
                for (int l = 0; l < 32; l++)
                {
                    low += (q[l] & 0x0F) * y[l];
                    high += (q[l] >> 4) * y[32 + l];
                }
                isum += scalesAndMins[2 * c] * low + scalesAndMins[2 * c + 1] * high;
            }
            float dy = KQuants.ActivationScale(activations);
            sum += dy * Fp16.Load(row) * isum - dy * Fp16.Load(row + 2) * minimums;
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => DotByRows<Q4KRows256<Avx2ByteDot>>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => DotByRows<Q4KRows256<VnniByteDot>>(row, activations, blocks);

    protected override void TileAvx2(in TileArgs tile) => TileWithRows<Q4KRows256<Avx2ByteDot>>(tile, KernelPath.Avx2);

    protected override void TileAvxVnni(in TileArgs tile) => TileWithRows<Q4KRows256<VnniByteDot>>(tile, KernelPath.AvxVnni);

    protected override int DecodeGroups(in TileArgs range, KernelPath path) => path switch
    {
        KernelPath.Avx2 => Q4KDecodeGroups<Avx2ByteDot>.Run(range),
        KernelPath.AvxVnni => Q4KDecodeGroups<VnniByteDot>.Run(range),
        _ => 0,
    };

    protected override float DotAvx512(byte* row, byte* activations, int blocks) => DotByRows<Q4KRows512>(row, activations, blocks);

    protected override void TileAvx512(in TileArgs tile) => TileAvx512<Q4KRows512>(tile);
}

internal readonly unsafe struct Q4KFormat : ISuperBlockFormat
{
    public static int BlockBytes => 144;

    public static bool HasMins => true;

    public static int OffsetShift => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scales(byte* block, out Vector256<short> scales, out Vector256<short> mins)
    {
        var scalesAndMins = KQuants.ScalesAndMins(block + 4);
        scales = KQuants.DuplicateEight(scalesAndMins, 0);
        mins = KQuants.DuplicateEight(scalesAndMins, 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block, int chunk) =>
        SimdBlocks.Bits(Vector256.Load(block + 16 + 32 * (chunk >> 1)), 4 * (chunk & 1), 0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block) => Fp16.Load(block);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MinScale(byte* block) => Fp16.Load(block + 2);
}

/// <summary>
/// Up to four Q4_K rows against one Q8_K vector (decoding), 64 values per 512-bit step: a chunk's low and
/// high nibbles side by side, <c>vpmaddubsw</c> against the 64 activations, <c>vpmaddwd</c> by the two
/// sub-block scales. The int32 sums are exact and the float step is the scalar reference's, one row per lane.
/// </summary>
internal readonly unsafe struct Q4KRows512 : IRowsKernel
{
    // Fully optimized at the first call: tier-0 vector code is many times slower, and the first tokens ran on it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TRows>(in TileArgs tile) where TRows : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a = tile.Activations;
        // Lanes 0..7 take sub-block 2c's scale, lanes 8..15 sub-block 2c + 1's.
        var pairOfScales = Vector512.Create(Vector256<int>.Zero, Vector256<int>.One);
        var sum = Vector128<float>.Zero;
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int b = 0; b < tile.Blocks; b++)
        {
            ahead.Step(TRows.Value * 144);
            var y0 = Vector512.Load((sbyte*)a + 4);
            var y1 = Vector512.Load((sbyte*)a + 68);
            var y2 = Vector512.Load((sbyte*)a + 132);
            var y3 = Vector512.Load((sbyte*)a + 196);
            var bsums = Vector256.Load(KQuants.ActivationSums(a));
            Vector256<int> i1 = default, i2 = default, i3 = default, m1 = default, m2 = default, m3 = default;
            var i0 = Row(w0, y0, y1, y2, y3, bsums, pairOfScales, out var m0);
            if (TRows.Value > 1)
                i1 = Row(w1, y0, y1, y2, y3, bsums, pairOfScales, out m1);
            if (TRows.Value > 2)
                i2 = Row(w2, y0, y1, y2, y3, bsums, pairOfScales, out m2);
            if (TRows.Value > 3)
                i3 = Row(w3, y0, y1, y2, y3, bsums, pairOfScales, out m3);
            var isum = Vector128.ConvertToSingle(TileShapes.SumEach(i0, i1, i2, i3));
            var minimums = Vector128.ConvertToSingle(TileShapes.SumEach(m0, m1, m2, m3));
            var d = Vector128.Create(Fp16.Load(w0), Fp16.Load(w1), Fp16.Load(w2), Fp16.Load(w3));
            var dmin = Vector128.Create(Fp16.Load(w0 + 2), Fp16.Load(w1 + 2), Fp16.Load(w2 + 2), Fp16.Load(w3 + 2));
            var dy = Vector128.Create(KQuants.ActivationScale(a));
            sum += (dy * d * isum) - (dy * dmin * minimums);
            w0 += 144; w1 += 144; w2 += 144; w3 += 144;
            a += KQuants.ActivationBlockBytes;
        }
        for (int r = 0; r < TRows.Value; r++)
            tile.Store<TRows, One>(r, 0, sum.GetElement(r));
    }

    /// <summary>One row's super-block: Σ scale·q·y as 8 int lanes, and Σ min·bsum as <paramref name="minimums"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Row(byte* w, Vector512<sbyte> y0, Vector512<sbyte> y1, Vector512<sbyte> y2, Vector512<sbyte> y3,
        Vector256<short> bsums, Vector512<int> pairOfScales, out Vector256<int> minimums)
    {
        var scalesAndMins = KQuants.ScalesAndMins(w + 4);
        var wide = Avx512F.ConvertToVector512Int32(scalesAndMins);
        var scales = wide | (wide << 16);
        var acc = Chunk(w + 16, y0, scales, pairOfScales);
        acc += Chunk(w + 48, y1, scales, pairOfScales + Vector512.Create(2));
        acc += Chunk(w + 80, y2, scales, pairOfScales + Vector512.Create(4));
        acc += Chunk(w + 112, y3, scales, pairOfScales + Vector512.Create(6));
        minimums = Avx2.MultiplyAddAdjacent(bsums, KQuants.DuplicateEight(scalesAndMins, 8));
        return acc.GetLower() + acc.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Chunk(byte* quants, Vector512<sbyte> y, Vector512<int> scales, Vector512<int> pick)
    {
        var q = Vector256.Load(quants);
        var nibbles = Vector512.Create(q, (q.AsUInt16() >>> 4).AsByte()) & Vector512.Create((byte)0x0F);
        var products = Avx512BW.MultiplyAddAdjacent(nibbles, y);
        return Avx512BW.MultiplyAddAdjacent(products, Avx512F.PermuteVar16x32(scales, pick).AsInt16());
    }
}

/// <summary>
/// Up to four Q4_K rows against one Q8_K vector (decoding) in 256-bit steps, as ggml's AVX2 q4_K dot walks them: each
/// 32-byte load gives a sub-block pair (low nibbles, high nibbles), <c>vpmaddubsw</c> against the activations and
/// <c>vpmaddwd</c> by the sub-block's scale broadcast with one in-lane shuffle. The int32 sums are exact and the float
/// step is the scalar reference's, two rows per horizontal sum.
/// </summary>
internal readonly unsafe struct Q4KRows256<TDot> : IRowsKernel where TDot : struct, IByteDot256
{
    // Fully optimized at the first call: tier-0 vector code is many times slower, and the first tokens ran on it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TRows>(in TileArgs tile) where TRows : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        byte* a = tile.Activations;
        // Lanes 0 and 2 accumulate rows 0 and 1 (2 and 3 in the second pair); lanes 1 and 3 are scratch.
        Vector128<float> sum01 = default, sum23 = default;
        var ahead = new ReadAhead(tile.ReadAhead);
        for (int b = 0; b < tile.Blocks; b++)
        {
            ahead.Step(TRows.Value * 144);
            sbyte* y = KQuants.ActivationQuants(a);
            var bsums = Vector256.Load(KQuants.ActivationSums(a));
            var dy = Vector128.Create(KQuants.ActivationScale(a));
            Vector256<int> i1 = default, m1 = default;
            var i0 = Row(w0, y, bsums, out var m0);
            if (TRows.Value > 1)
                i1 = Row(w1, y, bsums, out m1);
            sum01 += Finish(TileShapes.SumEach(i0, m0, i1, m1), dy, w0, w1);
            if (TRows.Value > 2)
            {
                Vector256<int> i3 = default, m3 = default;
                var i2 = Row(w2, y, bsums, out var m2);
                if (TRows.Value > 3)
                    i3 = Row(w3, y, bsums, out m3);
                sum23 += Finish(TileShapes.SumEach(i2, m2, i3, m3), dy, w2, w3);
            }
            w0 += 144; w1 += 144; w2 += 144; w3 += 144;
            a += KQuants.ActivationBlockBytes;
        }
        tile.Store<TRows, One>(0, 0, sum01.GetElement(0));
        tile.Store<TRows, One>(1, 0, sum01.GetElement(2));
        tile.Store<TRows, One>(2, 0, sum23.GetElement(0));
        tile.Store<TRows, One>(3, 0, sum23.GetElement(2));
    }

    /// <summary>[isum, mins] of two rows → lanes 0 and 2: dy·d·isum − dy·dmin·mins, the scalar reference's float step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Finish(Vector128<int> sums, Vector128<float> dy, byte* first, byte* second)
    {
        var scales = Vector128.Create(Fp16.Load(first), Fp16.Load(first + 2), Fp16.Load(second), Fp16.Load(second + 2));
        var products = dy * scales * Vector128.ConvertToSingle(sums);
        return products - Vector128.Shuffle(products, Vector128.Create(1, 0, 3, 2));
    }

    /// <summary>One row's super-block: Σ scale·q·y as 8 int lanes, and Σ min·bsum as <paramref name="minimums"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Row(byte* w, sbyte* y, Vector256<short> bsums, out Vector256<int> minimums)
    {
        var scalesAndMins = KQuants.ScalesAndMins(w + 4);
        // The eight scales as shorts in both 128-bit halves, so that vpshufb can broadcast any of them.
        var scales = Avx2.ConvertToVector256Int16(Vector128.Shuffle(scalesAndMins.AsUInt64(), Vector128<ulong>.Zero).AsByte());
        var acc = Chunk(Vector256<int>.Zero, w + 16, y, scales, 0);
        acc = Chunk(acc, w + 48, y + 64, scales, 2);
        acc = Chunk(acc, w + 80, y + 128, scales, 4);
        acc = Chunk(acc, w + 112, y + 192, scales, 6);
        minimums = Avx2.MultiplyAddAdjacent(bsums, KQuants.DuplicateEight(scalesAndMins, 8));
        return acc;
    }

    /// <summary>32 bytes of quants: sub-block <paramref name="group"/> in the low nibbles, the next in the high ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Chunk(Vector256<int> acc, byte* quants, sbyte* y, Vector256<short> scales, int group)
    {
        var q = Vector256.Load(quants);
        var lowNibbles = Vector256.Create((byte)0x0F);
        acc = TDot.DotShorts(acc, KQuants.PairSums(q & lowNibbles, y), Broadcast(scales, group));
        return TDot.DotShorts(acc, KQuants.PairSums((q.AsUInt16() >>> 4).AsByte() & lowNibbles, y + 32), Broadcast(scales, group + 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Broadcast(Vector256<short> scales, int index) =>
        Avx2.Shuffle(scales.AsByte(), Vector256.Create((short)((2 * index + 1) << 8 | 2 * index)).AsByte()).AsInt16();
}

/// <summary>
/// Eight Q4_K rows against one Q8_K vector (decoding) in 256-bit steps. The products run per row as in
/// <see cref="Q4KRows256{TDot}"/>; everything else a row costs per super-block — unpacking the 6-bit scales and
/// minimums, the minimum term, the fp16 scales, the float step — runs once for the eight rows, on vectors holding one
/// row per 32-bit lane (per row, that work took more instructions than the products). Three passes over the group:
/// the block headers, then the products two rows at a time in memory order (the hardware prefetcher follows two
/// streams; eight rows interleaved per block it did not, and decoding ran slower from memory than before), then the
/// float step. Exact int32 per super-block and the scalar reference's float step: every other path's bits.
/// </summary>
internal readonly unsafe struct Q4KDecodeGroups<TDot> where TDot : struct, IByteDot256
{
    public const int Rows = 8;

    // Per block of the group: the scale bytes of rows (0, 1 | 4, 5) and (2, 3 | 6, 7), dy·d and dy·dmin·Σmin·y of rows
    // 0..7, then the int sums of the four row pairs.
    const int ScalesAt = 0;
    const int ScaleFactorsAt = 64;
    const int MinimumTermsAt = 96;
    const int PairSumsAt = 128;
    const int ScratchBlockBytes = 256;

    /// <summary>Runs the range's whole groups of eight rows; returns how many rows that was.</summary>
    // Fully optimized at the first call: tier-0 vector code is many times slower, and the first tokens ran on it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Run(in TileArgs range)
    {
        int groups = range.RowCount / Rows;
        if (groups == 0)
            return 0;
        long groupBytes = Rows * range.RowBytes;
        byte* scratch = ThreadScratch<Q4KDecodeGroups<TDot>>.Get(range.Blocks * ScratchBlockBytes);
        // The header pass reads all of a group's rows first, so the reads ahead run a group further than a tile's: the
        // first group past the range's region at once, then paced.
        ReadAhead.Burst(range.ReadAhead, groupBytes);
        var ahead = new ReadAhead(range.ReadAhead + groupBytes);
        for (int g = 0; g < groups; g++)
            Group(range.Rows + g * groupBytes, range.RowBytes, range.Blocks, range.Activations, range.Output + g * Rows, ref ahead, scratch);
        return groups * Rows;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Group(byte* rows, long rowBytes, int blocks, byte* activations, float* output, ref ReadAhead ahead, byte* scratch)
    {
        for (int b = 0; b < blocks; b++)
            Headers(rows + b * 144L, rowBytes, activations + b * KQuants.ActivationBlockBytes, scratch + b * ScratchBlockBytes);
        for (int pair = 0; pair < 4; pair++)
        {
            byte* first = rows + 2 * pair * rowBytes;
            // Pair p's scale bytes: the low or high half of the rows (0, 1 | 4, 5) or (2, 3 | 6, 7) vector.
            int scalesOffset = ScalesAt + 32 * (pair & 1) + 16 * (pair >> 1);
            for (int b = 0; b < blocks; b++)
            {
                ahead.Step(2 * 144);
                byte* block = scratch + b * ScratchBlockBytes;
                sbyte* y = KQuants.ActivationQuants(activations + b * KQuants.ActivationBlockBytes);
                var scales = Vector128.Load(block + scalesOffset);
                var sums = Avx2.HorizontalAdd(Row(first + b * 144L, y, scales, 0), Row(first + rowBytes + b * 144L, y, scales, 1));
                sums.Store((int*)(block + PairSumsAt + 32 * pair));
            }
        }
        var sum = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = scratch + b * ScratchBlockBytes;
            int* pairSums = (int*)(block + PairSumsAt);
            var isum0123 = Avx2.HorizontalAdd(Vector256.Load(pairSums), Vector256.Load(pairSums + 8));
            var isum4567 = Avx2.HorizontalAdd(Vector256.Load(pairSums + 16), Vector256.Load(pairSums + 24));
            var isum = Avx2.Permute2x128(isum0123, isum4567, 0x20) + Avx2.Permute2x128(isum0123, isum4567, 0x31);
            sum += (Vector256.Load((float*)(block + ScaleFactorsAt)) * Vector256.ConvertToSingle(isum)) - Vector256.Load((float*)(block + MinimumTermsAt));
        }
        sum.Store(output);
    }

    /// <summary>One block of the eight rows: their scale bytes, dy·d and the minimum term, into <paramref name="target"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Headers(byte* block, long rowBytes, byte* activations, byte* target)
    {
        // Each row's first 16 bytes as [d|dmin, scale bytes 0..3, 4..7, 8..11]; transposed to one row per lane.
        var h0 = Header(block, rowBytes, 0);
        var h1 = Header(block, rowBytes, 1);
        var h2 = Header(block, rowBytes, 2);
        var h3 = Header(block, rowBytes, 3);
        var t0 = Avx2.UnpackLow(h0, h1).AsUInt64();
        var t1 = Avx2.UnpackHigh(h0, h1).AsUInt64();
        var t2 = Avx2.UnpackLow(h2, h3).AsUInt64();
        var t3 = Avx2.UnpackHigh(h2, h3).AsUInt64();
        var halves = Avx2.UnpackLow(t0, t2).AsUInt32();
        var packed0 = Avx2.UnpackHigh(t0, t2).AsUInt32();
        var packed1 = Avx2.UnpackLow(t1, t3).AsUInt32();
        var packed2 = Avx2.UnpackHigh(t1, t3).AsUInt32();
        // KQuants.ScalesAndMins on eight rows at once.
        var low6 = Vector256.Create(0x3F3F3F3Fu);
        var low4 = Vector256.Create(0x0F0F0F0Fu);
        var low2 = Vector256.Create(0x03030303u);
        var scales0 = packed0 & low6;
        var scales1 = (packed2 & low4) | (((packed0 >>> 6) & low2) << 4);
        var mins0 = packed1 & low6;
        var mins1 = ((packed2 >>> 4) & low4) | (((packed1 >>> 6) & low2) << 4);
        // Eight scale (minimum) bytes per row: rows (0, 1 | 4, 5) and (2, 3 | 6, 7).
        Avx2.UnpackLow(scales0, scales1).Store((uint*)(target + ScalesAt));
        Avx2.UnpackHigh(scales0, scales1).Store((uint*)(target + ScalesAt + 32));
        var mins = Minimums(Avx2.UnpackLow(mins0, mins1).AsByte(), Avx2.UnpackHigh(mins0, mins1).AsByte(), KQuants.ActivationSums(activations));
        // The scalar reference's float step is sum + ((dy·d)·isum − (dy·dmin)·mins): both factors but isum, here.
        var dy = Vector256.Create(KQuants.ActivationScale(activations));
        (dy * Fp16.FromHalfBits(halves & Vector256.Create(0xFFFFu))).Store((float*)(target + ScaleFactorsAt));
        (dy * Fp16.FromHalfBits(halves >>> 16) * Vector256.ConvertToSingle(mins)).Store((float*)(target + MinimumTermsAt));
    }

    /// <summary>Rows k and k + 4's first 16 bytes of the block, in the two 128-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> Header(byte* block, long rowBytes, int k) =>
        Vector256.Create(Vector128.Load((uint*)(block + k * rowBytes)), Vector128.Load((uint*)(block + (k + 4) * rowBytes)));

    /// <summary>Σ min·(sum of the group's 32 activations) of rows 0..7, from the eight minimum bytes per row of rows (0, 1 | 4, 5) and (2, 3 | 6, 7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Minimums(Vector256<byte> mins01, Vector256<byte> mins23, short* activationSums)
    {
        var groupSums = Ssse3.HorizontalAdd(Vector128.Load(activationSums), Vector128.Load(activationSums + 8));
        var sums = Vector256.Create(groupSums, groupSums);
        var rows01 = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(mins01.GetLower()), sums);
        var rows45 = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(mins01.GetUpper()), sums);
        var rows23 = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(mins23.GetLower()), sums);
        var rows67 = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(mins23.GetUpper()), sums);
        // The adds leave rows in lanes 0, 2, 4, 6, 1, 3, 5, 7.
        var interleaved = Avx2.HorizontalAdd(Avx2.HorizontalAdd(rows01, rows23), Avx2.HorizontalAdd(rows45, rows67));
        return Avx2.PermuteVar8x32(interleaved, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));
    }

    /// <summary>One row's Σ scale·q·y as 8 int lanes; its eight scale bytes are the <paramref name="which"/>-th 8 of <paramref name="pair"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Row(byte* w, sbyte* y, Vector128<byte> pair, int which)
    {
        var scales = Avx2.ConvertToVector256Int16(Vector128.Shuffle(pair.AsUInt64(), Vector128.Create((ulong)which)).AsByte());
        var acc = Q4KRows256<TDot>.Chunk(Vector256<int>.Zero, w + 16, y, scales, 0);
        acc = Q4KRows256<TDot>.Chunk(acc, w + 48, y + 64, scales, 2);
        acc = Q4KRows256<TDot>.Chunk(acc, w + 80, y + 128, scales, 4);
        return Q4KRows256<TDot>.Chunk(acc, w + 112, y + 192, scales, 6);
    }
}

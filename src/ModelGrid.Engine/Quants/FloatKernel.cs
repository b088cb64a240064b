using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>How one float weight format is read: one value, 8 values, or 16 values widened to float32.</summary>
internal unsafe interface IFloatFormat
{
    static abstract GgmlType Type { get; }

    static abstract float Load(byte* row, int index);

    static abstract Vector256<float> Load8(byte* row, int index);

    static abstract Vector512<float> Load16(byte* row, int index);
}

internal readonly unsafe struct F32Format : IFloatFormat
{
    public static GgmlType Type => GgmlType.F32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(byte* row, int index) => Unsafe.ReadUnaligned<float>(row + 4 * index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int index) => Vector256.Load((float*)row + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, int index) => Vector512.Load((float*)row + index);
}

internal readonly unsafe struct F16Format : IFloatFormat
{
    public static GgmlType Type => GgmlType.F16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(byte* row, int index) => Fp16.Load(row + 2 * index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int index) => Fp16.Widen(Vector128.Load((ushort*)row + index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, int index) => Fp16.Widen(Vector256.Load((ushort*)row + index));
}

internal readonly unsafe struct BF16Format : IFloatFormat
{
    public static GgmlType Type => GgmlType.BF16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(byte* row, int index) => Fp16.BFloat16ToSingle(Unsafe.ReadUnaligned<ushort>(row + 2 * index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int index) => Fp16.WidenBFloat16(Vector128.Load((ushort*)row + index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, int index) => Fp16.WidenBFloat16(Vector256.Load((ushort*)row + index));
}

/// <summary>
/// F32/F16/BF16 weights against float32 activations (exact inputs; only the summation order differs
/// between paths). The scalar reference sums in double.
/// </summary>
internal sealed unsafe class FloatKernel<TFormat>() : BlockKernel(TFormat.Type, ActivationEncoding.F32, KernelPath.Avx512, KernelPath.Avx2)
    where TFormat : struct, IFloatFormat
{
    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int i = 0; i < blocks; i++)
            destination[i] = TFormat.Load(row, i);
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        var x = (float*)activations;
        double sum = 0;
        for (int i = 0; i < blocks; i++)
            sum += (double)TFormat.Load(row, i) * x[i];
        return (float)sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks)
    {
        var x = (float*)activations;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int i = 0;
        for (; i + 32 <= blocks; i += 32)
        {
            acc0 = Fma.MultiplyAdd(TFormat.Load8(row, i), Vector256.Load(x + i), acc0);
            acc1 = Fma.MultiplyAdd(TFormat.Load8(row, i + 8), Vector256.Load(x + i + 8), acc1);
            acc2 = Fma.MultiplyAdd(TFormat.Load8(row, i + 16), Vector256.Load(x + i + 16), acc2);
            acc3 = Fma.MultiplyAdd(TFormat.Load8(row, i + 24), Vector256.Load(x + i + 24), acc3);
        }
        for (; i + 8 <= blocks; i += 8)
            acc0 = Fma.MultiplyAdd(TFormat.Load8(row, i), Vector256.Load(x + i), acc0);
        float sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        for (; i < blocks; i++)
            sum += TFormat.Load(row, i) * x[i];
        return sum;
    }

    protected override float DotAvx512(byte* row, byte* activations, int blocks) => DotByTile<FloatTile<TFormat>>(row, activations, blocks);

    protected override void TileAvx512(in TileArgs tile) => TileShapes.Run<FloatTile<TFormat>>(tile);
}

/// <summary>
/// Up to 4 rows × 4 tokens of float weights against float32 activations, 16 values at a time: one 16-lane
/// FMA accumulator per (row, token), lanes summed at the end, then the values past the last multiple of 16
/// added one by one. A row is widened once for all tokens of the tile.
/// </summary>
internal readonly unsafe struct FloatTile<TFormat> : ITileKernel where TFormat : struct, IFloatFormat
{
    public static void Run<TRows, TTokens>(in TileArgs tile) where TRows : struct, ITileCount where TTokens : struct, ITileCount
    {
        byte* w0 = tile.Row<TRows>(0), w1 = tile.Row<TRows>(1), w2 = tile.Row<TRows>(2), w3 = tile.Row<TRows>(3);
        var x0 = (float*)tile.Token<TTokens>(0);
        var x1 = (float*)tile.Token<TTokens>(1);
        var x2 = (float*)tile.Token<TTokens>(2);
        var x3 = (float*)tile.Token<TTokens>(3);
        Vector512<float> c00 = default, c10 = default, c20 = default, c30 = default, c01 = default, c11 = default, c21 = default, c31 = default;
        Vector512<float> c02 = default, c12 = default, c22 = default, c32 = default, c03 = default, c13 = default, c23 = default, c33 = default;
        int n = tile.Blocks, i = 0;
        var ahead = new ReadAhead(tile.ReadAhead);
        int stepBytes = TRows.Value * 16 * (TFormat.Type == GgmlType.F32 ? sizeof(float) : sizeof(ushort));
        for (; i + 16 <= n; i += 16)
        {
            ahead.Step(stepBytes);
            Vector512<float> v1 = default, v2 = default, v3 = default;
            var v0 = TFormat.Load16(w0, i);
            if (TRows.Value > 1)
                v1 = TFormat.Load16(w1, i);
            if (TRows.Value > 2)
                v2 = TFormat.Load16(w2, i);
            if (TRows.Value > 3)
                v3 = TFormat.Load16(w3, i);
            Token<TRows>(x0 + i, v0, v1, v2, v3, ref c00, ref c10, ref c20, ref c30);
            if (TTokens.Value > 1)
                Token<TRows>(x1 + i, v0, v1, v2, v3, ref c01, ref c11, ref c21, ref c31);
            if (TTokens.Value > 2)
                Token<TRows>(x2 + i, v0, v1, v2, v3, ref c02, ref c12, ref c22, ref c32);
            if (TTokens.Value > 3)
                Token<TRows>(x3 + i, v0, v1, v2, v3, ref c03, ref c13, ref c23, ref c33);
        }
        Store<TRows, TTokens>(tile, 0, 0, c00, w0, x0, i); Store<TRows, TTokens>(tile, 1, 0, c10, w1, x0, i);
        Store<TRows, TTokens>(tile, 2, 0, c20, w2, x0, i); Store<TRows, TTokens>(tile, 3, 0, c30, w3, x0, i);
        Store<TRows, TTokens>(tile, 0, 1, c01, w0, x1, i); Store<TRows, TTokens>(tile, 1, 1, c11, w1, x1, i);
        Store<TRows, TTokens>(tile, 2, 1, c21, w2, x1, i); Store<TRows, TTokens>(tile, 3, 1, c31, w3, x1, i);
        Store<TRows, TTokens>(tile, 0, 2, c02, w0, x2, i); Store<TRows, TTokens>(tile, 1, 2, c12, w1, x2, i);
        Store<TRows, TTokens>(tile, 2, 2, c22, w2, x2, i); Store<TRows, TTokens>(tile, 3, 2, c32, w3, x2, i);
        Store<TRows, TTokens>(tile, 0, 3, c03, w0, x3, i); Store<TRows, TTokens>(tile, 1, 3, c13, w1, x3, i);
        Store<TRows, TTokens>(tile, 2, 3, c23, w2, x3, i); Store<TRows, TTokens>(tile, 3, 3, c33, w3, x3, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Token<TRows>(
        float* x, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        ref Vector512<float> c0, ref Vector512<float> c1, ref Vector512<float> c2, ref Vector512<float> c3)
        where TRows : struct, ITileCount
    {
        var values = Vector512.Load(x);
        c0 = Avx512F.FusedMultiplyAdd(v0, values, c0);
        if (TRows.Value > 1)
            c1 = Avx512F.FusedMultiplyAdd(v1, values, c1);
        if (TRows.Value > 2)
            c2 = Avx512F.FusedMultiplyAdd(v2, values, c2);
        if (TRows.Value > 3)
            c3 = Avx512F.FusedMultiplyAdd(v3, values, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store<TRows, TTokens>(in TileArgs tile, int r, int t, Vector512<float> acc, byte* row, float* x, int tail)
        where TRows : struct, ITileCount where TTokens : struct, ITileCount
    {
        if (r >= TRows.Value || t >= TTokens.Value)
            return;
        float sum = Vector512.Sum(acc);
        for (int i = tail; i < tile.Blocks; i++)
            sum += TFormat.Load(row, i) * x[i];
        tile.Store<TRows, TTokens>(r, t, sum);
    }
}

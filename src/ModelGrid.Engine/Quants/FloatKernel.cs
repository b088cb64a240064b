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

    protected override float DotAvx512(byte* row, byte* activations, int blocks)
    {
        var x = (float*)activations;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int i = 0;
        for (; i + 64 <= blocks; i += 64)
        {
            acc0 = Avx512F.FusedMultiplyAdd(TFormat.Load16(row, i), Vector512.Load(x + i), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(TFormat.Load16(row, i + 16), Vector512.Load(x + i + 16), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(TFormat.Load16(row, i + 32), Vector512.Load(x + i + 32), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(TFormat.Load16(row, i + 48), Vector512.Load(x + i + 48), acc3);
        }
        for (; i + 16 <= blocks; i += 16)
            acc0 = Avx512F.FusedMultiplyAdd(TFormat.Load16(row, i), Vector512.Load(x + i), acc0);
        float sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        for (; i < blocks; i++)
            sum += TFormat.Load(row, i) * x[i];
        return sum;
    }
}

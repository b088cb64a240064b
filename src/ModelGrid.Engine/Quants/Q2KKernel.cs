using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Q2_K super-block (84 bytes): scales[16] (low nibble scale, high nibble min of each 16-value
/// sub-block), qs[64], fp16 d, fp16 dmin. In half n and pass j (shift 2j), value 128n + 32j + l takes
/// bits 2j..2j+1 of qs[32n + l]; value = d·scale[s]·q − dmin·min[s].
/// </summary>
internal sealed unsafe class Q2KKernel() : SuperBlockKernel<Q2KFormat>(GgmlType.Q2_K, KernelPath.AvxVnni, KernelPath.Avx2)
{
    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes)
        {
            float d = Fp16.Load(row + 80), min = Fp16.Load(row + 82);
            int s = 0;
            for (int n = 0; n < 2; n++)
            {
                byte* q = row + 16 + 32 * n;
                for (int j = 0; j < 4; j++)
                {
                    for (int half = 0; half < 2; half++, s++, destination += 16)
                    {
                        float dl = d * (row[s] & 0x0F), ml = min * (row[s] >> 4);
                        for (int l = 0; l < 16; l++)
                            destination[l] = dl * ((q[16 * half + l] >> (2 * j)) & 3) - ml;
                    }
                }
            }
        }
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += KQuants.ActivationBlockBytes)
        {
            sbyte* y = KQuants.ActivationQuants(activations);
            short* sums = KQuants.ActivationSums(activations);
            int minimums = 0, isum = 0;
            for (int s = 0; s < 16; s++)
                minimums += (row[s] >> 4) * sums[s];
            for (int n = 0; n < 2; n++)
            {
                byte* q = row + 16 + 32 * n;
                for (int j = 0; j < 4; j++)
                {
                    for (int half = 0; half < 2; half++)
                    {
                        int partial = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++)
                            partial += ((q[l] >> (2 * j)) & 3) * y[128 * n + 32 * j + l];
                        isum += (row[8 * n + 2 * j + half] & 0x0F) * partial;
                    }
                }
            }
            float dy = KQuants.ActivationScale(activations);
            sum += dy * Fp16.Load(row + 80) * isum - dy * Fp16.Load(row + 82) * minimums;
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => Dot256<Avx2ByteDot>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => Dot256<VnniByteDot>(row, activations, blocks);

    static float Dot256<TDot>(byte* row, byte* activations, int blocks) where TDot : struct, IByteDot256
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += 84, activations += KQuants.ActivationBlockBytes)
        {
            var packed = Vector128.Load(row);
            var scales = Avx2.ConvertToVector256Int16(packed & Vector128.Create((byte)0x0F));
            var mins = Avx2.ConvertToVector256Int16((packed.AsUInt16() >>> 4).AsByte() & Vector128.Create((byte)0x0F));
            sbyte* y = KQuants.ActivationQuants(activations);
            var acc = Vector256<int>.Zero;
            for (int n = 0; n < 2; n++)
            {
                var q = Vector256.Load(row + 16 + 32 * n);
                for (int j = 0; j < 4; j++)
                    acc = TDot.DotShorts(acc, KQuants.PairSums(SimdBlocks.Bits(q, 2 * j, 3), y + 128 * n + 32 * j), SimdBlocks.ScalePair(scales, 4 * n + j));
            }
            int minimums = Vector256.Sum(KQuants.MultiplyAdd16(KQuants.ActivationSums(activations), mins));
            float dy = KQuants.ActivationScale(activations);
            sum += dy * Fp16.Load(row + 80) * Vector256.Sum(acc) - dy * Fp16.Load(row + 82) * minimums;
        }
        return sum;
    }
}

internal readonly unsafe struct Q2KFormat : ISuperBlockFormat
{
    public static int BlockBytes => 84;

    public static bool HasMins => true;

    public static int OffsetShift => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scales(byte* block, out Vector256<short> scales, out Vector256<short> mins)
    {
        var packed = Vector128.Load(block);
        scales = Avx2.ConvertToVector256Int16(packed & Vector128.Create((byte)0x0F));
        mins = Avx2.ConvertToVector256Int16((packed.AsUInt16() >>> 4).AsByte() & Vector128.Create((byte)0x0F));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block, int chunk) =>
        SimdBlocks.Bits(Vector256.Load(block + 16 + 32 * (chunk >> 2)), 2 * (chunk & 3), 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block) => Fp16.Load(block + 80);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MinScale(byte* block) => Fp16.Load(block + 82);
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Q5_K super-block (176 bytes): fp16 d, fp16 dmin, scales[12] as in Q4_K, qh[32], qs[128] as in Q4_K.
/// Sub-block g's fifth bits are bit g of qh[0..31]; value = d·scale[g]·(nibble + 16·bit) − dmin·min[g].
/// </summary>
internal sealed unsafe class Q5KKernel() : SuperBlockKernel<Q5KFormat>(GgmlType.Q5_K, KernelPath.AvxVnni, KernelPath.Avx2)
{
    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes)
        {
            float d = Fp16.Load(row), min = Fp16.Load(row + 2);
            var scalesAndMins = KQuants.ScalesAndMins(row + 4);
            byte* qh = row + 16, q = row + 48;
            for (int c = 0; c < 4; c++, q += 32, destination += 64)
            {
                float d1 = d * scalesAndMins[2 * c], m1 = min * scalesAndMins[8 + 2 * c];
                float d2 = d * scalesAndMins[2 * c + 1], m2 = min * scalesAndMins[8 + 2 * c + 1];
                int lowBit = 1 << (2 * c), highBit = 2 << (2 * c);
                for (int l = 0; l < 32; l++)
                    destination[l] = d1 * ((q[l] & 0x0F) + ((qh[l] & lowBit) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; l++)
                    destination[32 + l] = d2 * ((q[l] >> 4) + ((qh[l] & highBit) != 0 ? 16 : 0)) - m2;
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
            byte* qh = row + 16, q = row + 48;
            for (int c = 0; c < 4; c++, q += 32, y += 64)
            {
                int low = 0, high = 0;
                for (int l = 0; l < 32; l++)
                {
                    low += ((q[l] & 0x0F) | ((qh[l] >> (2 * c)) & 1) << 4) * y[l];
                    high += ((q[l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4) * y[32 + l];
                }
                isum += scalesAndMins[2 * c] * low + scalesAndMins[2 * c + 1] * high;
            }
            float dy = KQuants.ActivationScale(activations);
            sum += dy * Fp16.Load(row) * isum - dy * Fp16.Load(row + 2) * minimums;
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => Dot256<Avx2ByteDot>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => Dot256<VnniByteDot>(row, activations, blocks);

    static float Dot256<TDot>(byte* row, byte* activations, int blocks) where TDot : struct, IByteDot256
    {
        float sum = 0;
        var lowNibbles = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, row += 176, activations += KQuants.ActivationBlockBytes)
        {
            var scalesAndMins = KQuants.ScalesAndMins(row + 4);
            var scales = KQuants.DuplicateEight(scalesAndMins, 0);
            var mins = KQuants.DuplicateEight(scalesAndMins, 8);
            sbyte* y = KQuants.ActivationQuants(activations);
            var highBits = Vector256.Load(row + 16);
            var acc = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var q = Vector256.Load(row + 48 + 32 * c);
                var low = (q & lowNibbles) | (SimdBlocks.Bits(highBits, 2 * c, 1).AsUInt16() << 4).AsByte();
                var high = SimdBlocks.Bits(q, 4, 0x0F) | (SimdBlocks.Bits(highBits, 2 * c + 1, 1).AsUInt16() << 4).AsByte();
                acc = TDot.DotShorts(acc, KQuants.PairSums(low, y + 64 * c), SimdBlocks.ScalePair(scales, 2 * c));
                acc = TDot.DotShorts(acc, KQuants.PairSums(high, y + 64 * c + 32), SimdBlocks.ScalePair(scales, 2 * c + 1));
            }
            int minimums = Vector256.Sum(KQuants.MultiplyAdd16(KQuants.ActivationSums(activations), mins));
            float dy = KQuants.ActivationScale(activations);
            sum += dy * Fp16.Load(row) * Vector256.Sum(acc) - dy * Fp16.Load(row + 2) * minimums;
        }
        return sum;
    }
}

internal readonly unsafe struct Q5KFormat : ISuperBlockFormat
{
    public static int BlockBytes => 176;

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
        SimdBlocks.Bits(Vector256.Load(block + 48 + 32 * (chunk >> 1)), 4 * (chunk & 1), 0x0F) | (SimdBlocks.Bits(Vector256.Load(block + 16), chunk, 1).AsUInt16() << 4).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block) => Fp16.Load(block);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MinScale(byte* block) => Fp16.Load(block + 2);
}

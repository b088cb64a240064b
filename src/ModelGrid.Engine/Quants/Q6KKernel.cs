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
internal sealed unsafe class Q6KKernel() : SuperBlockKernel<Q6KFormat>(GgmlType.Q6_K)
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

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => Dot256<Avx2ByteDot>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => Dot256<VnniByteDot>(row, activations, blocks);

    // Quants are taken unsigned (0..63) for vpmaddubsw; the −32 offset comes back as 32·Σ scale·bsum.
    static float Dot256<TDot>(byte* row, byte* activations, int blocks) where TDot : struct, IByteDot256
    {
        float sum = 0;
        var lowNibbles = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, row += 210, activations += KQuants.ActivationBlockBytes)
        {
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load((sbyte*)(row + 192)));
            sbyte* y = KQuants.ActivationQuants(activations);
            var acc = Vector256<int>.Zero;
            for (int n = 0; n < 2; n++)
            {
                var ql0 = Vector256.Load(row + 64 * n);
                var ql1 = Vector256.Load(row + 64 * n + 32);
                var qh = Vector256.Load(row + 128 + 32 * n);
                var q0 = (ql0 & lowNibbles) | (SimdBlocks.Bits(qh, 0, 3).AsUInt16() << 4).AsByte();
                var q1 = (ql1 & lowNibbles) | (SimdBlocks.Bits(qh, 2, 3).AsUInt16() << 4).AsByte();
                var q2 = SimdBlocks.Bits(ql0, 4, 0x0F) | (SimdBlocks.Bits(qh, 4, 3).AsUInt16() << 4).AsByte();
                var q3 = SimdBlocks.Bits(ql1, 4, 0x0F) | (SimdBlocks.Bits(qh, 6, 3).AsUInt16() << 4).AsByte();
                sbyte* yh = y + 128 * n;
                acc = TDot.DotShorts(acc, KQuants.PairSums(q0, yh), SimdBlocks.ScalePair(scales, 4 * n));
                acc = TDot.DotShorts(acc, KQuants.PairSums(q1, yh + 32), SimdBlocks.ScalePair(scales, 4 * n + 1));
                acc = TDot.DotShorts(acc, KQuants.PairSums(q2, yh + 64), SimdBlocks.ScalePair(scales, 4 * n + 2));
                acc = TDot.DotShorts(acc, KQuants.PairSums(q3, yh + 96), SimdBlocks.ScalePair(scales, 4 * n + 3));
            }
            var offsets = KQuants.MultiplyAdd16(KQuants.ActivationSums(activations), scales);
            int isum = Vector256.Sum(acc - (offsets << 5));
            sum += Fp16.Load(row + 208) * KQuants.ActivationScale(activations) * isum;
        }
        return sum;
    }
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

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Kernels of the 32-value block formats against Q8_0 activations (Q8_1 for formats with a minimum,
/// whose stored s = d·Σq supplies the minimum's share as ggml's vec_dot_q4_1_q8_1 does). Per block:
/// an exact int32 dot of the quants, then one float multiply by d_w·d_a.
/// </summary>
internal sealed unsafe class LegacyKernel<TFormat>() : BlockKernel(
    TFormat.Type, TFormat.HasMin ? ActivationEncoding.Q8_1 : ActivationEncoding.Q8_0, KernelPath.Avx2, KernelPath.AvxVnni, KernelPath.Avx512)
    where TFormat : struct, ILegacyFormat
{
    static int ActivationBlockBytes => TFormat.HasMin ? 36 : 34;

    static int ActivationQuantsOffset => TFormat.HasMin ? 4 : 2;

    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes, destination += 32)
        {
            float d = Fp16.Load(row);
            if (TFormat.HasMin)
            {
                float m = Fp16.Load(row + 2);
                for (int j = 0; j < 32; j++)
                    destination[j] = TFormat.Quant(row, j) * d + m;
            }
            else
            {
                for (int j = 0; j < 32; j++)
                    destination[j] = TFormat.Quant(row, j) * d;
            }
        }
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += ActivationBlockBytes)
        {
            var y = (sbyte*)(activations + ActivationQuantsOffset);
            int sumi = 0;
            for (int j = 0; j < 32; j++)
                sumi += TFormat.Quant(row, j) * y[j];
            sum += Fp16.Load(row) * Fp16.Load(activations) * sumi;
            if (TFormat.HasMin)
                sum += Fp16.Load(row + 2) * Fp16.Load(activations + 2);
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => Dot256<Avx2ByteDot>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => Dot256<VnniByteDot>(row, activations, blocks);

    float Dot256<TDot>(byte* row, byte* activations, int blocks) where TDot : struct, IByteDot256
    {
        var acc = Vector256<float>.Zero;
        float minimums = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += ActivationBlockBytes)
        {
            var sums = BlockSums<TDot>(row, activations);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Create(Fp16.Load(row) * Fp16.Load(activations)), acc);
            if (TFormat.HasMin)
                minimums += Fp16.Load(row + 2) * Fp16.Load(activations + 2);
        }
        return Vector256.Sum(acc) + minimums;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> BlockSums<TDot>(byte* row, byte* activations) where TDot : struct, IByteDot256
    {
        var y = Vector256.Load((sbyte*)(activations + ActivationQuantsOffset));
        return TFormat.HasMin
            ? TDot.DotBytes(Vector256<int>.Zero, TFormat.Quants(row), y)
            : SimdBlocks.DotSigned<TDot>(Vector256<int>.Zero, TFormat.Quants(row).AsSByte(), y);
    }

    // Two blocks per 512-bit vector: lanes 0..7 hold the first block's partial sums, 8..15 the second's.
    protected override float DotAvx512(byte* row, byte* activations, int blocks)
    {
        var acc = Vector512<float>.Zero;
        float minimums = 0;
        int b = 0;
        for (; b + 2 <= blocks; b += 2, row += 2 * BlockBytes, activations += 2 * ActivationBlockBytes)
        {
            byte* row2 = row + BlockBytes, activations2 = activations + ActivationBlockBytes;
            var x = Vector512.Create(TFormat.Quants(row), TFormat.Quants(row2));
            var y = Vector512.Create(
                Vector256.Load((sbyte*)(activations + ActivationQuantsOffset)),
                Vector256.Load((sbyte*)(activations2 + ActivationQuantsOffset)));
            Vector512<short> pairs;
            if (TFormat.HasMin)
            {
                pairs = Avx512BW.MultiplyAddAdjacent(x, y);
            }
            else
            {
                var signedX = x.AsSByte();
                // AVX-512 has no vpsignb: negate y where x is negative instead.
                var y2 = Vector512.ConditionalSelect(Vector512.LessThan(signedX, Vector512<sbyte>.Zero), -y, y);
                pairs = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(signedX), y2);
            }
            var sums = Avx512BW.MultiplyAddAdjacent(pairs, Vector512<short>.One);
            var scales = Vector512.Create(
                Vector256.Create(Fp16.Load(row) * Fp16.Load(activations)),
                Vector256.Create(Fp16.Load(row2) * Fp16.Load(activations2)));
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), scales, acc);
            if (TFormat.HasMin)
                minimums += Fp16.Load(row + 2) * Fp16.Load(activations + 2) + Fp16.Load(row2 + 2) * Fp16.Load(activations2 + 2);
        }
        float tail = b < blocks ? Dot256<Avx2ByteDot>(row, activations, 1) : 0;
        return Vector512.Sum(acc) + minimums + tail;
    }
}

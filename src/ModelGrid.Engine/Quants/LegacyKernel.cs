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
    TFormat.Type, TFormat.HasMin ? ActivationEncoding.Q8_1 : ActivationEncoding.Q8_0, KernelPath.AvxVnni, KernelPath.Avx2, KernelPath.Avx512)
    where TFormat : struct, ILegacyFormat
{
    // Activation block layout: Q8_1 = fp16 d, fp16 s, int8 qs[32]; Q8_0 = fp16 d, int8 qs[32].
    // Fields copied to locals, not static properties: the JIT left those as calls inside the loops.
    readonly int _activationBytes = TFormat.HasMin ? 36 : 34;
    readonly int _quantsAt = TFormat.HasMin ? 4 : 2;

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
        int activationBytes = _activationBytes, quantsAt = _quantsAt;
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += activationBytes)
        {
            var y = (sbyte*)(activations + quantsAt);
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
        int weightBytes = BlockBytes, activationBytes = _activationBytes, quantsAt = _quantsAt;
        var acc = Vector256<float>.Zero;
        float minimums = 0;
        for (int b = 0; b < blocks; b++, row += weightBytes, activations += activationBytes)
        {
            var sums = BlockSums<TDot>(row, activations + quantsAt);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Create(Fp16.Load(row) * Fp16.Load(activations)), acc);
            if (TFormat.HasMin)
                minimums += Fp16.Load(row + 2) * Fp16.Load(activations + 2);
        }
        return Vector256.Sum(acc) + minimums;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> BlockSums<TDot>(byte* row, byte* activationQuants) where TDot : struct, IByteDot256
    {
        var y = Vector256.Load((sbyte*)activationQuants);
        return TFormat.HasMin
            ? TDot.DotBytes(Vector256<int>.Zero, TFormat.Quants(row), y)
            : SimdBlocks.DotSigned<TDot>(Vector256<int>.Zero, TFormat.Quants(row).AsSByte(), y);
    }

    protected override float DotAvx512(byte* row, byte* activations, int blocks)
    {
        int pairs = blocks / 2;
        float sum = DotPairsAvx512(row, activations, pairs);
        return blocks % 2 == 0 ? sum : sum + Dot256<Avx2ByteDot>(row + 2 * pairs * BlockBytes, activations + 2 * pairs * _activationBytes, 1);
    }

    // Two blocks per 512-bit vector: lanes 0..7 hold the first block's partial sums, 8..15 the second's.
    // Kept free of calls so the accumulator stays in a register.
    float DotPairsAvx512(byte* row, byte* activations, int pairs)
    {
        int weightBytes = BlockBytes, activationBytes = _activationBytes, quantsAt = _quantsAt;
        var acc = Vector512<float>.Zero;
        float minimums = 0;
        for (int p = 0; p < pairs; p++, row += 2 * weightBytes, activations += 2 * activationBytes)
        {
            byte* row2 = row + weightBytes, activations2 = activations + activationBytes;
            var x = Vector512.Create(TFormat.Quants(row), TFormat.Quants(row2));
            var y = Vector512.Create(
                Vector256.Load((sbyte*)(activations + quantsAt)),
                Vector256.Load((sbyte*)(activations2 + quantsAt)));
            Vector512<short> pairSums;
            if (TFormat.HasMin)
            {
                pairSums = Avx512BW.MultiplyAddAdjacent(x, y);
            }
            else
            {
                var signedX = x.AsSByte();
                // AVX-512 has no vpsignb: negate y where x is negative instead.
                var y2 = Vector512.ConditionalSelect(Vector512.LessThan(signedX, Vector512<sbyte>.Zero), -y, y);
                pairSums = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(signedX), y2);
            }
            var sums = Avx512BW.MultiplyAddAdjacent(pairSums, Vector512<short>.One);
            var scales = Vector512.Create(
                Vector256.Create(Fp16.Load(row) * Fp16.Load(activations)),
                Vector256.Create(Fp16.Load(row2) * Fp16.Load(activations2)));
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), scales, acc);
            if (TFormat.HasMin)
                minimums += Fp16.Load(row + 2) * Fp16.Load(activations + 2) + Fp16.Load(row2 + 2) * Fp16.Load(activations2 + 2);
        }
        return Vector512.Sum(acc) + minimums;
    }
}

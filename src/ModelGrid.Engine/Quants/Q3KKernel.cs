using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Q3_K super-block (110 bytes): hmask[32], qs[64], scales[12] (16 6-bit scales, see
/// <see cref="KQuants.Q3Scales"/>), fp16 d. In half n and pass j (shift 2j), value 128n + 32j + l takes
/// bits 2j..2j+1 of qs[32n + l] and subtracts 4 unless bit 4n + j of hmask[l] is set;
/// value = d·scale[16-value sub-block]·q.
/// </summary>
internal sealed unsafe class Q3KKernel() : SuperBlockKernel<Q3KFormat>(GgmlType.Q3_K, KernelPath.AvxVnni, KernelPath.Avx2)
{
    protected override void DequantizeBlocks(byte* row, float* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++, row += BlockBytes)
        {
            float d = Fp16.Load(row + 108);
            var scales = KQuants.Q3Scales(row + 96);
            for (int n = 0; n < 2; n++)
            {
                for (int j = 0; j < 4; j++)
                {
                    for (int half = 0; half < 2; half++, destination += 16)
                    {
                        float dl = d * scales[8 * n + 2 * j + half];
                        for (int l = 0; l < 16; l++)
                            destination[l] = dl * Quant(row, n, j, 16 * half + l);
                    }
                }
            }
        }
    }

    static int Quant(byte* row, int n, int j, int l)
    {
        int low = (row[32 + 32 * n + l] >> (2 * j)) & 3;
        bool highSet = (row[l] & (1 << (4 * n + j))) != 0;
        return low - (highSet ? 0 : 4);
    }

    protected override float DotScalar(byte* row, byte* activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += BlockBytes, activations += KQuants.ActivationBlockBytes)
        {
            var scales = KQuants.Q3Scales(row + 96);
            sbyte* y = KQuants.ActivationQuants(activations);
            int isum = 0;
            for (int n = 0; n < 2; n++)
            {
                for (int j = 0; j < 4; j++)
                {
                    for (int half = 0; half < 2; half++)
                    {
                        int partial = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++)
                            partial += Quant(row, n, j, l) * y[128 * n + 32 * j + l];
                        isum += scales[8 * n + 2 * j + half] * partial;
                    }
                }
            }
            sum += Fp16.Load(row + 108) * KQuants.ActivationScale(activations) * isum;
        }
        return sum;
    }

    protected override float DotAvx2(byte* row, byte* activations, int blocks) => Dot256<Avx2ByteDot>(row, activations, blocks);

    protected override float DotAvxVnni(byte* row, byte* activations, int blocks) => Dot256<VnniByteDot>(row, activations, blocks);

    // Quants are taken unsigned (low bits + 4·high bit, 0..7); the −4 offset comes back as 4·Σ scale·bsum.
    static float Dot256<TDot>(byte* row, byte* activations, int blocks) where TDot : struct, IByteDot256
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++, row += 110, activations += KQuants.ActivationBlockBytes)
        {
            var scales = Avx2.ConvertToVector256Int16(KQuants.Q3Scales(row + 96));
            sbyte* y = KQuants.ActivationQuants(activations);
            var highBits = Vector256.Load(row);
            var acc = Vector256<int>.Zero;
            for (int n = 0; n < 2; n++)
            {
                var q = Vector256.Load(row + 32 + 32 * n);
                for (int j = 0; j < 4; j++)
                {
                    var u = SimdBlocks.Bits(q, 2 * j, 3) | (SimdBlocks.Bits(highBits, 4 * n + j, 1).AsUInt16() << 2).AsByte();
                    acc = TDot.DotShorts(acc, KQuants.PairSums(u, y + 128 * n + 32 * j), SimdBlocks.ScalePair(scales, 4 * n + j));
                }
            }
            var offsets = KQuants.MultiplyAdd16(KQuants.ActivationSums(activations), scales);
            int isum = Vector256.Sum(acc - (offsets << 2));
            sum += Fp16.Load(row + 108) * KQuants.ActivationScale(activations) * isum;
        }
        return sum;
    }
}

internal readonly unsafe struct Q3KFormat : ISuperBlockFormat
{
    public static int BlockBytes => 110;

    public static bool HasMins => false;

    public static int OffsetShift => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scales(byte* block, out Vector256<short> scales, out Vector256<short> mins)
    {
        scales = Avx2.ConvertToVector256Int16(KQuants.Q3Scales(block + 96));
        mins = default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block, int chunk) =>
        SimdBlocks.Bits(Vector256.Load(block + 32 + 32 * (chunk >> 2)), 2 * (chunk & 3), 3) | (SimdBlocks.Bits(Vector256.Load(block), chunk, 1).AsUInt16() << 2).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block) => Fp16.Load(block + 108);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MinScale(byte* block) => 0;
}

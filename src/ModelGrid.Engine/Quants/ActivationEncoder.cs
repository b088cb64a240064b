using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// The activation encodings of <see cref="RowKernels.EncodeActivations"/>, eight floats at a time. Each
/// step is the one <see cref="BlockQuantizer"/> takes (ggml's <c>quantize_row_*_ref</c>) on one lane —
/// the same scale, the same products, the same rounding — so for finite inputs the bytes are the same.
/// </summary>
internal static unsafe class ActivationEncoder
{
    public static bool IsAccelerated => Vector256.IsHardwareAccelerated;

    /// <summary>Q8_0 (<paramref name="withSum"/> false: fp16 d, int8 qs[32]) or Q8_1 (fp16 d, fp16 d·Σq, int8 qs[32]).</summary>
    public static void Q8(float* x, int blocks, byte* destination, bool withSum)
    {
        int quantsAt = withSum ? 4 : 2;
        for (int b = 0; b < blocks; b++, x += 32, destination += quantsAt + 32)
        {
            var v0 = Vector256.Load(x);
            var v1 = Vector256.Load(x + 8);
            var v2 = Vector256.Load(x + 16);
            var v3 = Vector256.Load(x + 24);
            float amax = MaxLane(Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3))));
            float d = amax / 127;
            var inverse = Vector256.Create(d != 0 ? 1.0f / d : 0.0f);
            var q0 = RoundHalfAwayFromZero(v0 * inverse);
            var q1 = RoundHalfAwayFromZero(v1 * inverse);
            var q2 = RoundHalfAwayFromZero(v2 * inverse);
            var q3 = RoundHalfAwayFromZero(v3 * inverse);
            Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).Store((sbyte*)(destination + quantsAt));
            Unsafe.WriteUnaligned(destination, Fp16.FromSingle(d));
            if (withSum)
                Unsafe.WriteUnaligned(destination + 2, Fp16.FromSingle(Vector256.Sum((q0 + q1) + (q2 + q3)) * d));
        }
    }

    /// <summary>Q8_K: f32 d, int8 qs[256], int16 bsums[16]; the first value of largest magnitude maps to −127, rounding half to even.</summary>
    public static void Q8K(float* x, int blocks, byte* destination)
    {
        for (int b = 0; b < blocks; b++, x += 256, destination += KQuants.ActivationBlockBytes)
        {
            var magnitudes = Vector256<float>.Zero;
            for (int i = 0; i < 256; i += 8)
                magnitudes = Vector256.Max(magnitudes, Vector256.Abs(Vector256.Load(x + i)));
            float amax = MaxLane(magnitudes);
            if (amax == 0)
            {
                new Span<byte>(destination, KQuants.ActivationBlockBytes).Clear();
                continue;
            }
            float max = x[FirstWithMagnitude(x, amax)];
            float inverse = -127f / max;
            var scale = Vector256.Create(inverse);
            var limit = Vector256.Create(127);
            var sums = (short*)(destination + 260);
            for (int i = 0; i < 256; i += 32)
            {
                var q0 = Vector256.Min(limit, Vector256.ConvertToInt32(Vector256.Round(scale * Vector256.Load(x + i))));
                var q1 = Vector256.Min(limit, Vector256.ConvertToInt32(Vector256.Round(scale * Vector256.Load(x + i + 8))));
                var q2 = Vector256.Min(limit, Vector256.ConvertToInt32(Vector256.Round(scale * Vector256.Load(x + i + 16))));
                var q3 = Vector256.Min(limit, Vector256.ConvertToInt32(Vector256.Round(scale * Vector256.Load(x + i + 24))));
                Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).Store((sbyte*)(destination + 4 + i));
                sums[i / 16] = (short)Vector256.Sum(q0 + q1);
                sums[i / 16 + 1] = (short)Vector256.Sum(q2 + q3);
            }
            Unsafe.WriteUnaligned(destination, 1 / inverse);
        }
    }

    static int FirstWithMagnitude(float* x, float magnitude)
    {
        var target = Vector256.Create(magnitude);
        for (int i = 0; i < 256; i += 8)
        {
            uint hits = Vector256.Equals(Vector256.Abs(Vector256.Load(x + i)), target).ExtractMostSignificantBits();
            if (hits != 0)
                return i + BitOperations.TrailingZeroCount(hits);
        }
        return 0; // only a NaN maximum finds no equal value
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float MaxLane(Vector256<float> v)
    {
        var half = Vector128.Max(v.GetLower(), v.GetUpper());
        half = Vector128.Max(half, Vector128.Shuffle(half, Vector128.Create(2, 3, 0, 1)));
        return MathF.Max(half.ToScalar(), half.GetElement(1));
    }

    /// <summary>roundf: v − trunc(v) is exact, so comparing it with ½ decides the rounding as C does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> RoundHalfAwayFromZero(Vector256<float> v)
    {
        var truncated = Vector256.Truncate(v);
        var awayFromZero = Vector256.GreaterThanOrEqual(Vector256.Abs(v - truncated), Vector256.Create(0.5f));
        var step = Vector256.CopySign(Vector256<float>.One, v) & awayFromZero;
        return Vector256.ConvertToInt32(truncated + step);
    }
}

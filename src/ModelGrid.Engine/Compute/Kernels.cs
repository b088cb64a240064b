using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace ModelGrid.Engine.Compute;

/// <summary>
/// Element-wise kernels of the transformer blocks, span in and span out. Decoding calls them on single rows between
/// the matrix products, where a scalar loop costs as much as a large share of a product; each vector path has its
/// scalar reference (<c>*Scalar</c>) beside it, which the tests compare against.
/// </summary>
public static class Kernels
{
    /// <summary>RMSNorm: y = x / sqrt(mean(x²) + eps) * weight. The sum of squares is accumulated in double, as ggml does.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> y) =>
        ScaleByWeight(x, weight, RmsScale(SumOfSquares(x), x.Length, epsilon), y);

    public static void RmsNormScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> y) =>
        ScaleByWeight(x, weight, RmsScale(SumOfSquaresScalar(x), x.Length, epsilon), y);

    static float RmsScale(double sumOfSquares, int length, float epsilon) => (float)(1.0 / Math.Sqrt(sumOfSquares / length + epsilon));

    static void ScaleByWeight(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float scale, Span<float> y)
    {
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>Σ x² with each square exact in double, in 4 + 4 double lanes.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            Vector256<double> low = default, high = default;
            for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(x.Slice(i, Vector256<float>.Count)));
                low = Vector256.FusedMultiplyAdd(lower, lower, low);
                high = Vector256.FusedMultiplyAdd(upper, upper, high);
            }
            sum = Vector256.Sum(low + high);
        }
        for (; i < x.Length; i++)
            sum += (double)x[i] * x[i];
        return sum;
    }

    public static double SumOfSquaresScalar(ReadOnlySpan<float> x)
    {
        double sum = 0;
        foreach (float v in x)
            sum += (double)v * v;
        return sum;
    }

    /// <summary>SwiGLU gating in place: gate = silu(gate) * up, silu(g) = g / (1 + e^−g).</summary>
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length)
            throw new ArgumentException($"{up.Length} up values for {gate.Length} gate values", nameof(up));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<float>.Count <= gate.Length; i += Vector256<float>.Count)
            {
                var g = Vector256.Create(gate.Slice(i, Vector256<float>.Count));
                var u = Vector256.Create(up.Slice(i, Vector256<float>.Count));
                (g / (Vector256<float>.One + Vector256.Exp(-g)) * u).CopyTo(gate.Slice(i, Vector256<float>.Count));
            }
        }
        SiluMultiplyScalar(gate[i..], up[i..]);
    }

    public static void SiluMultiplyScalar(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>In-place softmax, max-subtracted for stability.</summary>
    public static void Softmax(Span<float> values)
    {
        float max = TensorPrimitives.Max(values);
        TensorPrimitives.Subtract(values, max, values);
        TensorPrimitives.Exp(values, values);
        TensorPrimitives.Multiply(values, 1f / TensorPrimitives.Sum(values), values);
    }
}

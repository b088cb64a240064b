using System.Numerics.Tensors;

namespace ModelGrid.Engine.Compute;

/// <summary>Element-wise kernels of the transformer blocks, span in and span out.</summary>
public static class Kernels
{
    /// <summary>RMSNorm: y = x / sqrt(mean(x²) + eps) * weight. The sum of squares is accumulated in double, as ggml does.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> y)
    {
        double sum = 0;
        foreach (float v in x)
            sum += (double)v * v;
        float scale = (float)(1.0 / Math.Sqrt(sum / x.Length + epsilon));
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>SwiGLU gating in place: gate = silu(gate) * up.</summary>
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up)
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

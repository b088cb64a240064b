using System.Numerics.Tensors;

namespace ModelGrid.Engine.Vision;

/// <summary>Element-wise kernels of the vision tower, span in and span out.</summary>
public static class VisionKernels
{
    /// <summary>LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias. Sums are accumulated in double, as ggml does.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float epsilon, Span<float> y)
    {
        double sum = 0;
        foreach (float v in x)
            sum += v;
        float mean = (float)(sum / x.Length);
        double squares = 0;
        foreach (float v in x)
            squares += (double)(v - mean) * (v - mean);
        float scale = (float)(1.0 / Math.Sqrt(squares / x.Length + epsilon));
        TensorPrimitives.Subtract(x, mean, y);
        TensorPrimitives.Multiply(y, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
        TensorPrimitives.Add(y, bias, y);
    }

    /// <summary>In-place softmax, max-subtracted, with the vectorized exponential (an attention row has hundreds of patches).</summary>
    public static void Softmax(Span<float> values)
    {
        TensorPrimitives.Subtract(values, TensorPrimitives.Max(values), values);
        TensorPrimitives.Exp(values, values);
        TensorPrimitives.Multiply(values, 1f / TensorPrimitives.Sum(values), values);
    }

    const float SqrtTwoOverPi = 0.7978845608028654f;
    const float GeluCubic = 0.044715f;

    /// <summary>GELU, tanh approximation (PyTorch's <c>gelu_pytorch_tanh</c>, ggml's <c>ggml_gelu</c>), in place.</summary>
    public static void GeluTanh(Span<float> values)
    {
        Span<float> inner = stackalloc float[256];
        for (int start = 0; start < values.Length; start += inner.Length)
        {
            var x = values.Slice(start, Math.Min(inner.Length, values.Length - start));
            var u = inner[..x.Length];
            // u = tanh(√(2/π) · (x + 0.044715 x³)); y = 0.5 x (1 + u)
            TensorPrimitives.Multiply(x, x, u);
            TensorPrimitives.Multiply(u, GeluCubic * SqrtTwoOverPi, u);
            TensorPrimitives.Add(u, SqrtTwoOverPi, u);
            TensorPrimitives.Multiply(u, x, u);
            TensorPrimitives.Tanh(u, u);
            TensorPrimitives.Add(u, 1f, u);
            TensorPrimitives.Multiply(u, 0.5f, u);
            TensorPrimitives.Multiply(x, u, x);
        }
    }

    /// <summary>The definition <see cref="GeluTanh"/> vectorizes, one value at a time.</summary>
    public static float GeluTanhScalar(float x) => 0.5f * x * (1f + MathF.Tanh(SqrtTwoOverPi * (x + GeluCubic * x * x * x)));
}

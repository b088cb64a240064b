using System.Runtime.InteropServices;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>The row kernel of each supported weight type, and the activation encodings they consume.</summary>
public static class RowKernels
{
    static readonly Dictionary<GgmlType, IRowKernel> Kernels = new IRowKernel[]
    {
        new FloatKernel<F32Format>(), new FloatKernel<F16Format>(), new FloatKernel<BF16Format>(),
        new LegacyKernel<Q8_0Format>(), new LegacyKernel<Q4_0Format>(), new LegacyKernel<Q4_1Format>(),
        new LegacyKernel<Q5_0Format>(), new LegacyKernel<Q5_1Format>(),
        new Q2KKernel(), new Q3KKernel(), new Q4KKernel(), new Q5KKernel(), new Q6KKernel(),
    }.ToDictionary(kernel => kernel.Type);

    public static IRowKernel For(GgmlType type) =>
        Kernels.TryGetValue(type, out var kernel)
            ? kernel
            : throw new NotSupportedException($"no row kernel for tensor type {type} ({(uint)type})");

    /// <summary>The instruction-set path <paramref name="type"/>'s dot runs on this CPU (for info/bench output).</summary>
    public static KernelPath PreferredPath(GgmlType type) => ((BlockKernel)For(type)).Preferred;

    /// <summary>Bytes that <paramref name="elements"/> activations occupy in encoding <paramref name="encoding"/>.</summary>
    public static int EncodedActivationBytes(ActivationEncoding encoding, int elements)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elements);
        return encoding switch
        {
            ActivationEncoding.F32 => checked(elements * sizeof(float)),
            ActivationEncoding.Q8_0 => checked((int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, elements)),
            ActivationEncoding.Q8_1 => checked((int)GgmlTypeInfo.RowBytes(GgmlType.Q8_1, elements)),
            ActivationEncoding.Q8_K => checked((int)GgmlTypeInfo.RowBytes(GgmlType.Q8_K, elements)),
            _ => throw new ArgumentOutOfRangeException(nameof(encoding), encoding, "unknown activation encoding"),
        };
    }

    /// <summary>Encodes the activation vector <paramref name="x"/> once per matrix multiply, for every row's <see cref="IRowKernel.Dot"/>.</summary>
    public static unsafe void EncodeActivations(ActivationEncoding encoding, ReadOnlySpan<float> x, Span<byte> destination)
    {
        int needed = EncodedActivationBytes(encoding, x.Length);
        if (destination.Length != needed)
            throw new ArgumentException($"{x.Length} activations encode to {needed} bytes of {encoding}, destination has {destination.Length}", nameof(destination));
        if (encoding != ActivationEncoding.F32 && ActivationEncoder.IsAccelerated)
        {
            fixed (float* values = x)
            fixed (byte* encoded = destination)
            {
                if (encoding == ActivationEncoding.Q8_K)
                    ActivationEncoder.Q8K(values, x.Length / 256, encoded);
                else
                    ActivationEncoder.Q8(values, x.Length / 32, encoded, withSum: encoding == ActivationEncoding.Q8_1);
            }
            return;
        }
        switch (encoding)
        {
            case ActivationEncoding.F32:
                MemoryMarshal.AsBytes(x).CopyTo(destination);
                break;
            case ActivationEncoding.Q8_0:
                BlockQuantizer.Quantize(GgmlType.Q8_0, x, destination);
                break;
            case ActivationEncoding.Q8_1:
                BlockQuantizer.Quantize(GgmlType.Q8_1, x, destination);
                break;
            case ActivationEncoding.Q8_K:
                BlockQuantizer.Quantize(GgmlType.Q8_K, x, destination);
                break;
        }
    }
}

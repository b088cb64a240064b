// TEMPORARY local shim (not committed): exact F32/F16/BF16 kernels until the quants branch lands.
using ModelGrid.Engine.Tensors;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
namespace ModelGrid.Engine.Quants;
public static class RowKernels
{
    public static IRowKernel For(GgmlType type) => new FloatKernel(type);
    public static int EncodedActivationBytes(ActivationEncoding e, int n) => n * 4;
    public static void EncodeActivations(ActivationEncoding e, ReadOnlySpan<float> x, Span<byte> destination) => MemoryMarshal.AsBytes(x).CopyTo(destination);
    sealed class FloatKernel(GgmlType type) : IRowKernel
    {
        public GgmlType Type => type;
        public ActivationEncoding Activations => ActivationEncoding.F32;
        public void Dequantize(ReadOnlySpan<byte> row, Span<float> d)
        {
            switch (type)
            {
                case GgmlType.F32: MemoryMarshal.Cast<byte, float>(row).CopyTo(d); break;
                case GgmlType.F16: TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(row), d); break;
                case GgmlType.BF16: var s = MemoryMarshal.Cast<byte, ushort>(row); for (int i = 0; i < s.Length; i++) d[i] = BitConverter.Int32BitsToSingle(s[i] << 16); break;
                default: throw new NotSupportedException(type.ToString());
            }
        }
        public float Dot(ReadOnlySpan<byte> row, ReadOnlySpan<byte> x)
        {
            var xs = MemoryMarshal.Cast<byte, float>(x);
            Span<float> tmp = stackalloc float[xs.Length];
            Dequantize(row, tmp);
            return TensorPrimitives.Dot(tmp, xs);
        }
    }
}

using BenchmarkDotNet.Attributes;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Bench;

/// <summary>
/// The hot path of decoding: one weight row dotted with encoded activations, per tensor type, with the rows in cache
/// (<see cref="RowInCache"/>, compute) and streamed from memory (<see cref="RowsFromMemory"/>, bandwidth).
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    const int Columns = 1024;
    const int Rows = 32768;

    byte[] _weights = [];
    byte[] _activations = [];
    IRowKernel _kernel = null!;
    int _rowBytes;

    [Params(GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_0, GgmlType.F16, GgmlType.BF16)]
    public GgmlType Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _kernel = RowKernels.For(Type);
        _rowBytes = (int)GgmlTypeInfo.RowBytes(Type, Columns);
        _weights = RandomRows(Type, Columns, Rows, random);
        var x = Enumerable.Range(0, Columns).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        _activations = new byte[RowKernels.EncodedActivationBytes(_kernel.Activations, Columns)];
        RowKernels.EncodeActivations(_kernel.Activations, x, _activations);
    }

    /// <summary>Rows of small random weights (uniform in ±0.05, as trained layers roughly are) in a tensor type.</summary>
    public static byte[] RandomRows(GgmlType type, int columns, int rows, Random random)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var weights = new byte[(long)rowBytes * rows];
        var values = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < columns; i++)
                values[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
            Encode(type, values, weights.AsSpan(r * rowBytes, rowBytes));
        }
        return weights;
    }

    static void Encode(GgmlType type, float[] values, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++)
                    BitConverter.TryWriteBytes(destination[(2 * i)..], (Half)values[i]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++)
                    BitConverter.TryWriteBytes(destination[(2 * i)..], (ushort)(BitConverter.SingleToInt32Bits(values[i]) >> 16));
                break;
            default:
                BlockQuantizer.Quantize(type, values, destination);
                break;
        }
    }

    [Benchmark]
    public float RowInCache() => _kernel.Dot(_weights.AsSpan(0, _rowBytes), _activations);

    [Benchmark(OperationsPerInvoke = Rows)]
    public float RowsFromMemory()
    {
        float sum = 0;
        for (int r = 0; r < Rows; r++)
            sum += _kernel.Dot(_weights.AsSpan(r * _rowBytes, _rowBytes), _activations);
        return sum;
    }
}

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
        _weights = new byte[(long)_rowBytes * Rows];
        var row = new float[Columns];
        for (int r = 0; r < Rows; r++)
        {
            for (int i = 0; i < Columns; i++)
                row[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
            Encode(Type, row, _weights.AsSpan(r * _rowBytes, _rowBytes));
        }
        var x = Enumerable.Range(0, Columns).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        _activations = new byte[RowKernels.EncodedActivationBytes(_kernel.Activations, Columns)];
        RowKernels.EncodeActivations(_kernel.Activations, x, _activations);
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

using BenchmarkDotNet.Attributes;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Bench;

/// <summary>
/// The hot path of prompt processing: one thread's share of a prompt matrix multiply, a block of weight rows against
/// 64 encoded tokens through <see cref="IRowKernel.DotTile"/>, with the rows in L2 as the engine's tiles keep them.
/// </summary>
public unsafe class TileBenchmarks
{
    const int Columns = 1024;
    const int Rows = 128;
    const int Tokens = 64;

    byte[] _weights = [];
    byte[] _activations = [];
    float[] _output = [];
    IRowKernel _kernel = null!;
    int _rowBytes;
    int _activationBytes;

    [Params(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K)]
    public GgmlType Type { get; set; }

    /// <summary>Multiply-adds per <see cref="Tile"/> call, to turn its time into GMAC/s.</summary>
    public static long MultiplyAdds => (long)Rows * Tokens * Columns;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _kernel = RowKernels.For(Type);
        _rowBytes = (int)GgmlTypeInfo.RowBytes(Type, Columns);
        _weights = KernelBenchmarks.RandomRows(Type, Columns, Rows, random);
        var values = new float[Columns];
        _activationBytes = RowKernels.EncodedActivationBytes(_kernel.Activations, Columns);
        _activations = new byte[_activationBytes * Tokens];
        for (int t = 0; t < Tokens; t++)
        {
            for (int i = 0; i < Columns; i++)
                values[i] = (float)(random.NextDouble() - 0.5);
            RowKernels.EncodeActivations(_kernel.Activations, values, _activations.AsSpan(t * _activationBytes, _activationBytes));
        }
        _output = new float[Tokens * Rows];
    }

    [Benchmark]
    public void Tile()
    {
        fixed (byte* weights = _weights)
        fixed (byte* activations = _activations)
        fixed (float* output = _output)
            _kernel.DotTile(weights, _rowBytes, Rows, activations, _activationBytes, Tokens, output, Rows);
    }
}

using System.Diagnostics;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Bench;

/// <summary>One thread streaming a 64 MiB weight matrix through <see cref="IRowKernel.DotRows"/>, as a decode step does.</summary>
static unsafe class DecodeRows
{
    const int Columns = 1024;

    public static double Measure(GgmlType type)
    {
        var kernel = RowKernels.For(type);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, Columns);
        int rows = (64 << 20) / rowBytes;
        var random = new Random(1);
        // 64 random rows repeated: quantizing 64 MiB of random values would take longer than the measurement.
        var distinct = KernelBenchmarks.RandomRows(type, Columns, 64, random);
        var weights = new byte[(long)rowBytes * rows];
        for (int r = 0; r < rows; r++)
            distinct.AsSpan((r % 64) * rowBytes, rowBytes).CopyTo(weights.AsSpan(r * rowBytes, rowBytes));
        var values = Enumerable.Range(0, Columns).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var activations = new byte[RowKernels.EncodedActivationBytes(kernel.Activations, Columns)];
        RowKernels.EncodeActivations(kernel.Activations, values, activations);
        var output = new float[rows];
        var seconds = new List<double>();
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        fixed (float* o = output)
        {
            for (int run = 0; run < 15; run++)
            {
                long start = Stopwatch.GetTimestamp();
                kernel.DotRows(w, rowBytes, rows, a, o);
                if (run >= 3)
                    seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        seconds.Sort();
        return (double)rowBytes * rows / seconds[seconds.Count / 2] / 1e9;
    }
}

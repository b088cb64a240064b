using System.Diagnostics;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Bench;

/// <summary>
/// Threads streaming a weight matrix through <see cref="IRowKernel.DotRows"/>, a contiguous part each, as a decode step
/// does: 64 MiB reads from memory (the decode case), 512 KiB stays in L2 (what the kernel computes when memory is not the
/// limit).
/// </summary>
static unsafe class DecodeRows
{
    public static double Measure(GgmlType type, int kibibytes, int threads, int columns)
    {
        var kernel = RowKernels.For(type);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        int rows = (kibibytes << 10) / rowBytes;
        var random = new Random(1);
        // 64 random rows repeated: quantizing 64 MiB of random values would take longer than the measurement.
        var distinct = KernelBenchmarks.RandomRows(type, columns, 64, random);
        var weights = new byte[(long)rowBytes * rows];
        for (int r = 0; r < rows; r++)
            distinct.AsSpan((r % 64) * rowBytes, rowBytes).CopyTo(weights.AsSpan(r * rowBytes, rowBytes));
        var values = Enumerable.Range(0, columns).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var activations = new byte[RowKernels.EncodedActivationBytes(kernel.Activations, columns)];
        RowKernels.EncodeActivations(kernel.Activations, values, activations);
        var output = new float[rows];
        var seconds = new List<double>();
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        fixed (float* o = output)
        {
            for (int run = 0; run < 15 * Math.Max(1, (64 << 10) / kibibytes); run++)
            {
                long start = Stopwatch.GetTimestamp();
                if (threads == 1)
                    kernel.DotRows(w, rowBytes, rows, a, o);
                else
                    RunParts(kernel, w, rowBytes, rows, a, o, threads);
                if (run >= 3)
                    seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        seconds.Sort();
        return (double)rowBytes * rows / seconds[seconds.Count / 2] / 1e9;
    }

    static void RunParts(IRowKernel kernel, byte* weights, int rowBytes, int rows, byte* activations, float* output, int threads)
    {
        int perThread = (rows / threads + 7) / 8 * 8;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int first = t * perThread, count = Math.Min(perThread, rows - first);
            kernel.DotRows(weights + (long)first * rowBytes, rowBytes, count, activations, output + first);
        });
    }
}

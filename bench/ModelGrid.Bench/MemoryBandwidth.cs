using System.Diagnostics;
using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;

namespace ModelGrid.Bench;

/// <summary>Streams a buffer far larger than the caches with several threads: the ceiling a memory-bound decode step can reach.</summary>
static class MemoryBandwidth
{
    public static unsafe double Measure(int threads, long bytes = 1L << 30, int rounds = 7)
    {
        using var buffer = new NativeBuffer<float>(bytes / sizeof(float));
        buffer.Span.Fill(1f);
        long perThread = buffer.Length / threads;
        var results = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                long start = t * perThread;
                for (long at = start; at < start + perThread; at += 1 << 20)
                    TensorPrimitives.Sum(new ReadOnlySpan<float>(buffer.Pointer + at, (int)Math.Min(1 << 20, start + perThread - at)));
            });
            results.Add(bytes / clock.Elapsed.TotalSeconds / 1e9);
        }
        results.Sort();
        return results[results.Count / 2];
    }
}

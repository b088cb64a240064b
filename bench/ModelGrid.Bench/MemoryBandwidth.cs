using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelGrid.Engine.Compute;

namespace ModelGrid.Bench;

/// <summary>
/// Streams a buffer far larger than the caches with several threads, each reading one contiguous part with independent
/// accumulators and software prefetch (as the decode kernels read weights): the ceiling a memory-bound decode step can reach.
/// </summary>
static class MemoryBandwidth
{
    public static unsafe double Measure(int threads, long bytes = 1L << 30, int rounds = 7)
    {
        using var buffer = new NativeBuffer<float>(bytes / sizeof(float));
        buffer.Span.Fill(1f);
        long perThread = buffer.Length / threads / 64 * 64;
        var results = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => Read(buffer.Pointer + t * perThread, perThread));
            results.Add(perThread * threads * sizeof(float) / clock.Elapsed.TotalSeconds / 1e9);
        }
        results.Sort();
        return results[results.Count / 2];
    }

    static unsafe float Read(float* start, long count)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        for (long i = 0; i < count; i += 32)
        {
            if (Sse.IsSupported)
                Sse.Prefetch0(start + i + 1024);
            a += Vector256.Load(start + i);
            b += Vector256.Load(start + i + 8);
            c += Vector256.Load(start + i + 16);
            d += Vector256.Load(start + i + 24);
        }
        return Vector256.Sum(a + b + c + d);
    }
}

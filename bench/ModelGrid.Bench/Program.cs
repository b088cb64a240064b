using BenchmarkDotNet.Running;
using ModelGrid.Bench;

// `memory [threads]` measures the machine's read bandwidth (the decode roofline); anything else goes to BenchmarkDotNet.
if (args is ["memory", ..])
{
    int threads = args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount;
    Console.WriteLine($"{{\"threads\":{threads},\"read_gb_per_second\":{MemoryBandwidth.Measure(threads):F2}}}");
    return;
}
// `tile TYPE...` prints each type's prompt-tile throughput in GMAC/s (median of 15 timed runs), a quick check between
// full BenchmarkDotNet runs.
if (args is ["tile", ..])
{
    foreach (var name in args.Skip(1))
    {
        var benchmark = new TileBenchmarks { Type = Enum.Parse<ModelGrid.Engine.Tensors.GgmlType>(name, ignoreCase: true) };
        benchmark.Setup();
        var seconds = new List<double>();
        for (int run = 0; run < 20; run++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 20; i++)
                benchmark.Tile();
            if (run >= 5)
                seconds.Add(clock.Elapsed.TotalSeconds / 20);
        }
        seconds.Sort();
        Console.WriteLine($"{{\"type\":\"{benchmark.Type}\",\"gmac_per_second\":{TileBenchmarks.MultiplyAdds / seconds[seconds.Count / 2] / 1e9:F1}}}");
    }
    return;
}
// `rows TYPE...` prints each type's decode throughput on one thread in GB/s of weights (64 MiB of rows through DotRows).
if (args is ["rows", ..])
{
    foreach (var name in args.Skip(1))
    {
        var type = Enum.Parse<ModelGrid.Engine.Tensors.GgmlType>(name, ignoreCase: true);
        Console.WriteLine($"{{\"type\":\"{type}\",\"gb_per_second\":{DecodeRows.Measure(type):F2}}}");
    }
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmarks).Assembly).Run(args);

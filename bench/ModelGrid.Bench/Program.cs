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
// `rows TYPE...` prints each type's decode throughput on one thread in GB/s of weights (64 MiB of rows through DotRows,
// from memory, rows of 1024 values); `--cached`: over 512 KiB that stays in L2 (the kernel's compute limit); `--threads N`:
// N threads, a part each; `--columns N`: rows of N values.
if (args is ["rows", ..])
{
    bool cached = args.Contains("--cached");
    int threads = Option("--threads", 1), columns = Option("--columns", 1024);
    string[] valued = ["--threads", "--columns"];
    // args[i] is the argument before a (the first is skipped): the value of an option is not a type.
    var names = args.Skip(1).Where((a, i) => !a.StartsWith("--") && !valued.Contains(args[i]));
    foreach (var name in names)
    {
        var type = Enum.Parse<ModelGrid.Engine.Tensors.GgmlType>(name, ignoreCase: true);
        Console.WriteLine($"{{\"type\":\"{type}\",\"cached\":{(cached ? "true" : "false")},\"threads\":{threads},\"columns\":{columns},\"gb_per_second\":{DecodeRows.Measure(type, cached ? 512 : 64 << 10, threads, columns):F2}}}");
    }
    return;
}
int Option(string name, int fallback)
{
    int at = Array.IndexOf(args, name);
    return at > 0 ? int.Parse(args[at + 1]) : fallback;
}

BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmarks).Assembly).Run(args);

using BenchmarkDotNet.Running;
using ModelGrid.Bench;

// `memory [threads]` measures the machine's read bandwidth (the decode roofline); anything else goes to BenchmarkDotNet.
if (args is ["memory", ..])
{
    int threads = args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount;
    Console.WriteLine($"{{\"threads\":{threads},\"read_gb_per_second\":{MemoryBandwidth.Measure(threads):F2}}}");
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmarks).Assembly).Run(args);

// Hub benchmark: search and lineage latency over a large generated catalog (SQLite, and PostgreSQL where its server
// programs are installed), and download throughput of a large file over loopback against a plain disk copy.
//   dotnet run -c Release --project bench/ModelGrid.HubBench -- [--repos 100000] [--queries 300] [--download-mib 1024] [--no-sqlite] [--no-postgres]
//     [--data DIR]   keep the SQLite catalog in DIR and reuse it on the next run (loading 100,000 repos takes minutes)
//     [--no-download] [--no-search]
using System.Diagnostics;
using System.Globalization;
using ModelGrid.Hub;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;
using ModelGrid.Hub.Tests;
using ModelGrid.HubBench;

var repoCount = IntOption("--repos", 100_000);
var queryCount = IntOption("--queries", 300);
var downloadMib = IntOption("--download-mib", 1024);
var withSqlite = !args.Contains("--no-sqlite");
var withPostgres = !args.Contains("--no-postgres");
var withSearch = !args.Contains("--no-search");
var withDownload = !args.Contains("--no-download");
var keptData = StringOption("--data");

Console.Error.WriteLine($"Generating {repoCount:N0} repositories…");
var catalog = Catalog.Generate(repoCount, seed: 42);
var queries = QuerySet.Build(catalog, new Random(7));
Console.Error.WriteLine($"  {catalog.Count(m => m.Depth == 0):N0} base models, deepest chain {catalog.Max(m => m.Depth)} levels, " +
    string.Join(", ", catalog.Where(m => m.Depth > 0).GroupBy(m => m.Metadata.BaseModels[0].Relation).Select(g => $"{g.Count():N0} {g.Key}")));

var results = new List<(string Store, QueryLatency[] Latencies, TimeSpan? Load)>();
var root = Directory.CreateTempSubdirectory("modelgrid-hubbench-").FullName;
try
{
    if (withSearch && withSqlite)
        results.Add(await BenchStoreAsync("SQLite", keptData ?? Path.Combine(root, "sqlite"), null));
    if (withSearch && withPostgres)
    {
        try
        {
            var connection = await PostgresTestCluster.CreateDatabaseAsync("hubbench");
            results.Add(await BenchStoreAsync("PostgreSQL", Path.Combine(root, "postgres"), connection));
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"PostgreSQL skipped: {e.Message}");
        }
    }
    var download = withDownload ? await DownloadBench.RunAsync(Path.Combine(root, "download"), (long)downloadMib << 20) : [];

    if (results.Count > 0)
        PrintSearch();
    if (download.Count > 0)
        PrintDownload();

    void PrintSearch()
    {
        Console.WriteLine($"### Search and lineage ({repoCount:N0} repositories, {queryCount} queries each, over HTTP on loopback)");
        Console.WriteLine();
        Console.WriteLine("| query | " + string.Join(" | ", results.Select(r => $"{r.Store} p50 | {r.Store} p99")) + " | rows (mean) |");
        Console.WriteLine("| --- | " + string.Join(" | ", results.Select(_ => "---: | ---:")) + " | ---: |");
        for (var i = 0; i < queries.Count; i++)
        {
            var cells = results.Select(r => $"{Ms(r.Latencies[i].P50)} | {Ms(r.Latencies[i].P99)}");
            Console.WriteLine($"| {queries[i].Name} | {string.Join(" | ", cells)} | {results[0].Latencies[i].MeanRows:F0} |");
        }
        Console.WriteLine();
        Console.WriteLine("Loading the catalog: " + string.Join(", ", results.Select(r => r.Load is { } load ? $"{r.Store} {load.TotalSeconds:F0} s" : $"{r.Store} reused")));
    }

    void PrintDownload()
    {
        Console.WriteLine($"### Download of a {downloadMib} MiB file (medians of {DownloadBench.Rounds} interleaved rounds)");
        Console.WriteLine();
        Console.WriteLine("| path | median time | throughput | vs disk copy | CPU time (median) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (name, time, cpu) in download)
            Console.WriteLine($"| {name} | {time.TotalSeconds:F2} s | {((long)downloadMib << 20) / time.TotalSeconds / 1e9:F2} GB/s | {download[0].Time / time:P0} | {cpu.TotalSeconds:F2} s |");
    }
}
finally
{
    Directory.Delete(root, recursive: true);
}

async Task<(string, QueryLatency[], TimeSpan?)> BenchStoreAsync(string store, string dataDir, string? postgres)
{
    var options = new HubOptions { DataDir = dataDir, PostgresConnectionString = postgres, Url = "http://127.0.0.1:0" };
    await using var server = await HubServer.StartAsync(options, CancellationToken.None);
    TimeSpan? load = null;
    if (await server.Services.Store.FindRepoAsync(catalog[^1].Name, CancellationToken.None) is null)
    {
        Console.Error.WriteLine($"{store}: loading…");
        // SQLite takes one writer at a time; PostgreSQL takes several.
        load = await CatalogLoader.LoadAsync(server.Services.Store, catalog, writers: postgres is null ? 1 : 4);
        Console.Error.WriteLine($"{store}: loaded in {load.Value.TotalSeconds:F0} s");
    }
    Console.Error.WriteLine($"{store}: querying…");
    using var http = new HttpClient { BaseAddress = new Uri(server.Url + "/") };
    var latencies = new QueryLatency[queries.Count];
    for (var i = 0; i < queries.Count; i++)
        latencies[i] = await queries[i].MeasureAsync(http, queryCount);
    return (store, latencies, load);
}

string? StringOption(string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

int IntOption(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

static string Ms(TimeSpan t) => $"{t.TotalMilliseconds:F1} ms";

namespace ModelGrid.HubBench
{
    static class CatalogLoader
    {
        /// <summary>
        /// Writes every model through <see cref="IHubStore"/> as the hub would (create, then one commit with files and
        /// metadata), then records downloads: twice as many as repos, most of them of popular models (Zipf over catalog order,
        /// where base models come first).
        /// </summary>
        public static async Task<TimeSpan> LoadAsync(IHubStore store, List<CatalogModel> catalog, int writers)
        {
            var clock = Stopwatch.StartNew();
            var ids = new long[catalog.Count];
            var start = DateTimeOffset.UtcNow.AddDays(-365);
            await ParallelAsync(catalog.Count, writers, async i =>
            {
                var model = catalog[i];
                var time = start.AddSeconds(i * 300);
                var initial = new CommitRecord(CommitId(i, 0), null, "initial commit", "", model.Name.Namespace, time);
                if (!await store.TryCreateRepoAsync(model.Name, false, RepoService.DefaultBranch, initial, CancellationToken.None))
                    throw new InvalidOperationException($"{model.Name} exists twice in the catalog");
                ids[i] = (await store.FindRepoAsync(model.Name, CancellationToken.None))!.Id;
                var upload = new CommitRecord(CommitId(i, 1), initial.Id, "Upload model", "", model.Name.Namespace, time.AddMinutes(1));
                if (!await store.TryCommitAsync(ids[i], RepoService.DefaultBranch, initial.Id, upload, model.Files, model.Metadata, CancellationToken.None))
                    throw new InvalidOperationException($"{model.Name}: commit lost");
            });
            var random = new Random(11);
            var downloads = Enumerable.Range(0, catalog.Count * 2).Select(_ => ids[Catalog.Zipf(random, ids.Length, 1.0)]).ToArray();
            await ParallelAsync(downloads.Length, writers, i => store.AddDownloadAsync(downloads[i], CancellationToken.None));
            return clock.Elapsed;
        }

        static string CommitId(int model, int n) => $"{model:x32}{n:x8}";

        static Task ParallelAsync(int count, int workers, Func<int, Task> body)
        {
            var next = -1;
            return Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
            {
                for (int i; (i = Interlocked.Increment(ref next)) < count;)
                    await body(i);
            })));
        }
    }

    sealed record QueryLatency(TimeSpan P50, TimeSpan P99, double MeanRows);

    /// <summary>One kind of query, with a generator of concrete URLs drawn from the catalog.</summary>
    sealed record QuerySet(string Name, Func<string> NextUrl)
    {
        public static List<QuerySet> Build(List<CatalogModel> catalog, Random random)
        {
            var bases = catalog.Where(m => m.Depth == 0).ToList();
            var users = catalog.Select(m => m.Name.Namespace).Distinct().ToList();
            var words = new[] { "qwen", "Qwen3", "llama", "GGUF", "lora", "instruct", "coder", "merge", "mistral", "gemma", "hermes", "7B", "0.6B" };
            string[] tags = ["gguf", "safetensors", "qwen3", "llama", "peft", "code", "math", "zh", "license:mit", "roleplay"];
            var deepest = catalog.Max(m => m.Depth);
            var deepLeaves = catalog.Where(m => m.Depth >= deepest - 1).ToList();
            T Pick<T>(IReadOnlyList<T> from) => from[random.Next(from.Count)];
            // Base models come first in catalog order, and the generator made low ranks the popular ones.
            CatalogModel PopularBase() => bases[Catalog.Zipf(random, Math.Min(bases.Count, 20), 1.0)];
            string Name(CatalogModel m) => Uri.EscapeDataString(m.Name.ToString()).Replace("%2F", "/");
            string Escaped(string s) => Uri.EscapeDataString(s);
            return
            [
                new("text search (`search=`), by downloads", () => $"api/models?search={Escaped(Pick(words))}"),
                new("text search, rare term", () => $"api/models?search={Escaped(Pick(users))}"),
                new("author", () => $"api/models?author={Escaped(Pick(users))}"),
                new("tag (`filter=`)", () => $"api/models?filter={Escaped(Pick(tags))}"),
                new("base_model of a popular base", () => $"api/models?base_model={Escaped(PopularBase().Name.ToString())}"),
                new("text + tag, by likes", () => $"api/models?search={Escaped(Pick(words))}&filter={Escaped(Pick(tags))}&sort=likes"),
                new("descendants of a popular base (all depths, first page of 100)", () => $"api/models/{Name(PopularBase())}/lineage?direction=descendants"),
                new("ancestry of a deep leaf", () => $"api/models/{Name(Pick(deepLeaves))}/lineage?direction=ancestors"),
            ];
        }

        public async Task<QueryLatency> MeasureAsync(HttpClient http, int count)
        {
            for (var i = 0; i < 10; i++)
                (await http.GetAsync(NextUrl())).EnsureSuccessStatusCode().Dispose();
            var times = new List<TimeSpan>(count);
            long rows = 0;
            for (var i = 0; i < count; i++)
            {
                var url = NextUrl();
                var clock = Stopwatch.StartNew();
                using var response = await http.GetAsync(url);
                var body = await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync();
                times.Add(clock.Elapsed);
                rows += System.Text.Json.Nodes.JsonNode.Parse(body)!.AsArray().Count;
            }
            times.Sort();
            return new QueryLatency(times[count / 2], times[Math.Min(count - 1, (int)Math.Ceiling(count * 0.99) - 1)], (double)rows / count);
        }
    }

    sealed record DownloadPath(string Name, TimeSpan Time, TimeSpan Cpu);

    static class DownloadBench
    {
        /// <summary>
        /// Medians of nine interleaved rounds: disk copies of the stored blob (in the kernel, and through user space as a
        /// download must), a plain GET into a file, and <c>modelgrid pull</c>'s download (without and with its SHA-256 check).
        /// </summary>
        public static async Task<List<DownloadPath>> RunAsync(string dir, long size)
        {
            var upload = Path.Combine(dir, "upload");
            Directory.CreateDirectory(upload);
            await WriteRandomAsync(Path.Combine(upload, "model.gguf"), size);
            await using var server = await HubServer.StartAsync(
                new HubOptions { DataDir = Path.Combine(dir, "hub"), Url = "http://127.0.0.1:0", MaxFileSize = size }, CancellationToken.None);
            var token = await server.Services.Tokens.CreateAsync("bench", ["bench"], CancellationToken.None);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url + "/"), Timeout = TimeSpan.FromMinutes(10) };
            var client = new HubClient(http, token);
            var repo = RepoName.Parse("bench/big");
            Console.Error.WriteLine($"Download: pushing {size >> 20} MiB…");
            await client.CreateRepoAsync(repo, false, CancellationToken.None);
            await client.PushDirectoryAsync(upload, repo, "big file", RepoService.DefaultBranch, null, CancellationToken.None);
            File.Delete(Path.Combine(upload, "model.gguf"));
            var remote = (await client.ListFilesAsync(repo, "main", CancellationToken.None)).Single();
            var blob = server.Services.Blobs.PathOf(remote.Sha256!);
            var target = Path.Combine(dir, "target.bin");
            var fourConnections = new HubClient(http, token) { Connections = FileDownload.MaxConnections };

            (string Name, Func<Task> Run)[] paths =
            [
                ("disk copy (File.Copy of the blob: in-kernel copy_file_range)", () => { File.Copy(blob, target); return Task.CompletedTask; }),
                ("disk copy through user space (FileStream.CopyToAsync, 1 MiB buffer)", async () =>
                {
                    await using var source = new FileStream(blob, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous);
                    await using var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
                    await source.CopyToAsync(file, 1 << 20);
                }),
                ("HTTP GET over loopback into a file (one connection)", async () =>
                {
                    using var response = await http.GetAsync("bench/big/resolve/main/model.gguf", HttpCompletionOption.ResponseHeadersRead);
                    await using var body = await response.EnsureSuccessStatusCode().Content.ReadAsStreamAsync();
                    using var file = File.OpenHandle(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);
                    // Whole 1 MiB buffers straight to the file: no FileStream buffer copy, few write calls.
                    var buffer = new byte[1 << 20];
                    for (long offset = 0; ;)
                    {
                        var filled = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false);
                        if (filled == 0)
                            break;
                        await RandomAccess.WriteAsync(file, buffer.AsMemory(0, filled), offset);
                        offset += filled;
                    }
                }),
                ("`modelgrid pull` download (connections as they pay off, no hash to check)", () => Pull(client, remote with { Sha256 = null })),
                ("`modelgrid pull` download (connections as they pay off + SHA-256 check)", () => Pull(client, remote)),
                ($"`modelgrid pull --connections {FileDownload.MaxConnections}` download (no hash to check)", () => Pull(fourConnections, remote with { Sha256 = null })),
                ($"`modelgrid pull --connections {FileDownload.MaxConnections}` download (+ SHA-256 check)", () => Pull(fourConnections, remote)),
            ];
            Task Pull(HubClient puller, RemoteFile file) => puller.DownloadFileAsync(repo, "main", file, target, null, CancellationToken.None);
            // Interleaved rounds, so a noisy moment of the machine hits every path alike; the median of each.
            // CPU time (server and client share the process) is what the paths cost the two cores, less noisy than time.
            var times = paths.Select(_ => new List<TimeSpan>()).ToArray();
            var cpu = paths.Select(_ => new List<TimeSpan>()).ToArray();
            using var process = Process.GetCurrentProcess();
            for (var round = 0; round < Rounds; round++)
            {
                for (var i = 0; i < paths.Length; i++)
                {
                    File.Delete(target);
                    process.Refresh();
                    var cpuBefore = process.TotalProcessorTime;
                    var clock = Stopwatch.StartNew();
                    await paths[i].Run();
                    times[i].Add(clock.Elapsed);
                    process.Refresh();
                    cpu[i].Add(process.TotalProcessorTime - cpuBefore);
                }
            }
            File.Delete(target);
            return [.. paths.Select((p, i) => new DownloadPath(p.Name, Median(times[i]), Median(cpu[i])))];
        }

        static TimeSpan Median(List<TimeSpan> times) => times.Order().ElementAt(times.Count / 2);

        public const int Rounds = 9;

        static async Task WriteRandomAsync(string path, long size)
        {
            var chunk = new byte[16 << 20];
            var random = new Random(3);
            await using var file = File.Create(path);
            for (long written = 0; written < size; written += chunk.Length)
            {
                random.NextBytes(chunk);
                await file.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, size - written)));
            }
        }
    }
}

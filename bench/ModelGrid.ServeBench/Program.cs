using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelGrid.Server;
using ModelGrid.Server.Hosting;

// Serving benchmark and soak test: concurrent streaming clients against /v1/completions, reporting aggregate generated
// tokens/s, time to first token (p50/p99) and errors per concurrency level. Without --url it starts the server in
// process on the given model (and afterwards checks that no KV blocks stayed allocated); with --url it measures any
// OpenAI-compatible server (e.g. llama.cpp's llama-server with the same number of slots).
//   ModelGrid.ServeBench MODEL [--url URL] [--clients 1,4,8,16] [--seconds 20] [--max-tokens 128] [--parallel 16] [--threads N] [--ctx 2048]

var arguments = args.ToList();
string? Option(string name, string? fallback = null)
{
    int at = arguments.IndexOf(name);
    if (at < 0)
        return fallback;
    string value = arguments[at + 1];
    arguments.RemoveRange(at, 2);
    return value;
}
string? url = Option("--url");
int[] levels = Option("--clients", "1,4,8,16")!.Split(',').Select(int.Parse).ToArray();
double seconds = double.Parse(Option("--seconds", "20")!);
int maxTokens = int.Parse(Option("--max-tokens", "128")!);
int parallel = int.Parse(Option("--parallel", levels.Max().ToString())!);
int threads = int.Parse(Option("--threads", Environment.ProcessorCount.ToString())!);
int context = int.Parse(Option("--ctx", "2048")!);
string? modelName = Option("--model-name");
if (arguments.Count != 1)
{
    Console.Error.WriteLine("usage: ModelGrid.ServeBench MODEL [--url URL] [--model-name NAME] [--clients 1,4,8,16] [--seconds 20] [--max-tokens 128] [--parallel N] [--threads N] [--ctx N]");
    return 2;
}

ModelServer? server = null;
if (url is null)
{
    var spec = new ModelSpec(arguments[0]);
    server = await ModelServer.StartAsync(new ServerOptions
    {
        Models = [spec],
        Url = "http://127.0.0.1:0",
        Parallel = parallel,
        Threads = threads,
        ContextLength = context,
        QueueLimit = 1024,
    });
    url = server.Url;
    modelName ??= spec.Name;
}
modelName ??= new ModelSpec(arguments[0]).Name;
using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(10) };
long startMemory = Environment.WorkingSet;

Console.WriteLine("| clients | requests | errors | generated tok/s | TTFT p50 ms | TTFT p99 ms |");
Console.WriteLine("|---|---|---|---|---|---|");
foreach (int clients in levels)
{
    var stop = Stopwatch.StartNew();
    var ttfts = new List<double>();
    long tokens = 0, requests = 0, errors = 0;
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async client =>
    {
        int turn = 0;
        while (stop.Elapsed.TotalSeconds < seconds)
        {
            var body = new JsonObject
            {
                ["model"] = modelName,
                ["prompt"] = $"Client {client} request {turn++}: write a long story about the sea.",
                ["max_tokens"] = maxTokens,
                ["temperature"] = 0.8,
                ["ignore_eos"] = true,
                ["stream"] = true,
                ["stream_options"] = new JsonObject { ["include_usage"] = true },
            };
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = JsonContent.Create(body) };
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                response.EnsureSuccessStatusCode();
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                bool first = true;
                int generated = 0, chunks = 0;
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
                        continue;
                    var chunk = JsonNode.Parse(line[6..])!;
                    if (chunk["error"] is not null)
                        throw new InvalidOperationException(chunk["error"]!.ToJsonString());
                    if (chunk["choices"] is JsonArray { Count: > 0 })
                        chunks++;
                    if (first && chunk["choices"] is JsonArray { Count: > 0 })
                    {
                        lock (ttfts)
                            ttfts.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        first = false;
                    }
                    if (chunk["usage"]?["completion_tokens"] is { } count)
                        generated = (int)count;
                }
                // Servers without include_usage support send one chunk per token.
                Interlocked.Add(ref tokens, generated > 0 ? generated : chunks);
                Interlocked.Increment(ref requests);
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException or IOException)
            {
                Interlocked.Increment(ref errors);
                Console.Error.WriteLine(e.Message);
            }
        }
    }));
    ttfts.Sort();
    double Percentile(double p) => ttfts.Count == 0 ? double.NaN : ttfts[Math.Min(ttfts.Count - 1, (int)(p * ttfts.Count))];
    Console.WriteLine($"| {clients} | {requests} | {errors} | {tokens / stop.Elapsed.TotalSeconds:0.0} | {Percentile(0.5):0} | {Percentile(0.99):0} |");
}

if (server is not null)
{
    var scheduler = server.Catalog.Models[0].Scheduler;
    for (int i = 0; i < 100 && scheduler.RunningCount > 0; i++)
        await Task.Delay(50);
    GC.Collect();
    Console.WriteLine();
    Console.WriteLine($"after the run: {scheduler.RunningCount} running, {scheduler.QueueDepth} waiting, {scheduler.KvBlocksUsed} KV blocks held by " +
        $"{scheduler.CachedPrefixes} cached prefixes (of {scheduler.KvBlocksTotal}); KV pages {ModelGrid.Engine.Models.Blocks.KvPagePool.BytesInUse >> 10} KiB used, " +
        $"{ModelGrid.Engine.Models.Blocks.KvPagePool.BytesFree >> 10} KiB free; working set {startMemory >> 20} MiB at start, {Environment.WorkingSet >> 20} MiB at end");
    await server.DisposeAsync();
}
return 0;

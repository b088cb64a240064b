using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Models;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Tests;

/// <summary>Admission, back-pressure and cancellation, each on its own small server.</summary>
public sealed class SchedulingTests : IAsyncLifetime
{
    LanguageModel _model = null!;
    string _name = "";

    public Task InitializeAsync()
    {
        string path = TestModels.AttentionOnly();
        // The model's whole context, so the streams that must still be running when a test looks take as long as it allows;
        // one compute thread, so that on a 2-core machine the test's own thread is not starved while they run.
        _model = LanguageModel.Load(path, new ModelOptions { Threads = 1 });
        _name = TestModels.Name(path);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _model.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A stream as long as the server's context allows (on a server started with <see cref="LongContext"/>).</summary>
    JsonObject LongStream(Scheduler scheduler) => new()
    {
        ["model"] = _name,
        ["prompt"] = "Tell me a very long story.",
        ["max_tokens"] = scheduler.ContextLength - 64,
        ["ignore_eos"] = true,
        ["stream"] = true,
    };

    /// <summary>A client that drops the connection when a response is disposed early (by default it would drain the rest).</summary>
    static HttpClient Client(ModelServer server) =>
        new(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = new Uri(server.Url) };

    static ServerOptions LongContext(int parallel) => ServerFixture.Options(parallel) with { ContextLength = null };

    static async Task<HttpResponseMessage> StartStreamAsync(HttpClient http, JsonObject body) =>
        await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = JsonContent.Create(body) }, HttpCompletionOption.ResponseHeadersRead);

    static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 200 && !condition(); i++)
            await Task.Delay(25);
        Assert.True(condition());
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after_and_recovers()
    {
        await using var server = await ModelServer.StartAsync(LongContext(parallel: 1) with { QueueLimit = 1 }, [(_name, _model)]);
        using var http = Client(server);
        var scheduler = server.Catalog.Resolve(_name).Scheduler;

        using var running = await StartStreamAsync(http, LongStream(scheduler));
        await WaitUntil(() => scheduler.RunningCount == 1);
        var waiting = StartStreamAsync(http, LongStream(scheduler));
        await WaitUntil(() => scheduler.QueueDepth == 1);
        using var refused = await http.PostAsJsonAsync("/v1/completions", new JsonObject { ["model"] = _name, ["prompt"] = "hi", ["max_tokens"] = 1 });

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("queue_full", (string?)(await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);

        running.Dispose();
        (await waiting).Dispose();
        await WaitUntil(() => scheduler.RunningCount == 0 && scheduler.QueueDepth == 0);
        using var accepted = await http.PostAsJsonAsync("/v1/completions", new JsonObject { ["model"] = _name, ["prompt"] = "hi", ["max_tokens"] = 1 });
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_slot_and_kv_blocks()
    {
        // A tiny model can finish even a whole-context stream before a starved test thread looks: then the disconnect
        // was not mid-stream, and the attempt is repeated on a fresh server.
        for (int attempt = 0; attempt < 5; attempt++)
        {
            await using var server = await ModelServer.StartAsync(LongContext(parallel: 2), [(_name, _model)]);
            using var http = Client(server);
            var scheduler = server.Catalog.Resolve(_name).Scheduler;

            var response = await StartStreamAsync(http, LongStream(scheduler));
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: {", await reader.ReadLineAsync());
            // The first event can precede the prompt's blocks.
            for (int wait = 0; wait < 5000 && scheduler.RunningCount == 1 && scheduler.KvBlocksUsed == 0; wait++)
                await Task.Delay(1);
            bool midStream = scheduler.RunningCount == 1 && scheduler.KvBlocksUsed > 0;
            reader.Dispose();
            response.Dispose();
            if (!midStream)
                continue;

            // Cancelled sequences are dropped, not cached: nothing may stay allocated.
            await WaitUntil(() => scheduler.RunningCount == 0 && scheduler.KvBlocksUsed == 0);
            return;
        }
        Assert.Fail("every stream ended before the client could disconnect from it");
    }

    [Fact]
    public async Task Finished_sequences_stay_cached_within_the_kv_budget()
    {
        // A budget for little more than one full context: cached prefixes must be evicted to admit new work.
        long budgetMiB = Math.Max(1, 2 * ServerFixture.ContextLength * 4096L >> 20);
        await using var server = await ModelServer.StartAsync(ServerFixture.Options(parallel: 2) with { KvBudgetMiB = budgetMiB }, [(_name, _model)]);
        using var http = Client(server);
        var scheduler = server.Catalog.Resolve(_name).Scheduler;
        for (int i = 0; i < 6; i++)
        {
            using var response = await http.PostAsJsonAsync("/v1/completions", new JsonObject
            {
                ["model"] = _name,
                ["prompt"] = $"Request number {i}",
                ["max_tokens"] = 200,
                ["temperature"] = 0,
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.InRange(scheduler.KvBlocksUsed, 0, scheduler.KvBlocksTotal);
        }
        Assert.True(scheduler.CachedPrefixes > 0);
    }
}

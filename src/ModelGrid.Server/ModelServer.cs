using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelGrid.Engine;
using ModelGrid.Engine.Models;
using ModelGrid.Server.Api;
using ModelGrid.Server.Chat;
using ModelGrid.Server.Hosting;
using ModelGrid.Server.Metrics;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server;

public sealed record ServerOptions
{
    public required IReadOnlyList<ModelSpec> Models { get; init; }
    /// <summary>Kestrel URL; port 0 picks a free port (see <see cref="ModelServer.Url"/>).</summary>
    public string Url { get; init; } = "http://127.0.0.1:8000";
    /// <summary>Context length per sequence; null: the model's own.</summary>
    public int? ContextLength { get; init; }
    /// <summary>Sequences decoded together per model.</summary>
    public int Parallel { get; init; } = 4;
    /// <summary>KV-cache budget per model in MiB; null: room for Parallel full contexts twice over.</summary>
    public long? KvBudgetMiB { get; init; }
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int QueueLimit { get; init; } = 64;
    /// <summary>Prompt tokens computed per step, shared by the requests still reading their prompts.</summary>
    public int PrefillTokensPerStep { get; init; } = 256;
    public long MaxRequestBodyBytes { get; init; } = 16 << 20;
    /// <summary>Image limits and whether remote image URLs are fetched (off by default).</summary>
    public ImageInputOptions Images { get; init; } = new();
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;
}

/// <summary>
/// The OpenAI-compatible HTTP server: <c>/v1/chat/completions</c>, <c>/v1/completions</c>, <c>/v1/embeddings</c>,
/// <c>/v1/models</c>, <c>/health</c> and <c>/metrics</c> over one scheduler per model. Handlers only translate
/// requests and stream results; the schedulers own the models.
/// </summary>
public sealed class ModelServer : IAsyncDisposable
{
    readonly WebApplication _app;

    ModelServer(WebApplication app, ModelCatalog catalog, ServerMetrics metrics)
    {
        _app = app;
        Catalog = catalog;
        Metrics = metrics;
    }

    public ModelCatalog Catalog { get; }
    public ServerMetrics Metrics { get; }

    /// <summary>The address actually bound (with the real port when the options asked for port 0).</summary>
    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    public static async Task<ModelServer> StartAsync(ServerOptions options, CancellationToken ct = default)
    {
        if (options.Models.Count == 0)
            throw new ArgumentException("no model to serve", nameof(options));
        var duplicate = options.Models.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"two models are named '{duplicate.Key}'; give one an alias", nameof(options));
        var metrics = new ServerMetrics();
        var served = new List<ServedModel>();
        try
        {
            foreach (var spec in options.Models)
            {
                var model = LanguageModel.Load(spec.Path, new ModelOptions
                {
                    Threads = options.Threads,
                    ContextLength = options.ContextLength,
                    MultimodalProjector = spec.Projector,
                });
                served.Add(new ServedModel(spec.Name, model, new Scheduler(model, SchedulerOptions(options), metrics.For(spec.Name)), ownsModel: true));
            }
            return await StartAsync(options, served, metrics, ct);
        }
        catch
        {
            foreach (var model in served)
                model.Dispose();
            throw;
        }
    }

    /// <summary>Serves models the caller already loaded (they stay the caller's to dispose).</summary>
    public static Task<ModelServer> StartAsync(ServerOptions options, IReadOnlyList<(string Name, LanguageModel Model)> models, CancellationToken ct = default)
    {
        var metrics = new ServerMetrics();
        var served = models.Select(m => new ServedModel(m.Name, m.Model, new Scheduler(m.Model, SchedulerOptions(options), metrics.For(m.Name)), ownsModel: false)).ToList();
        return StartAsync(options, served, metrics, ct);
    }

    static SchedulerOptions SchedulerOptions(ServerOptions options) => new()
    {
        MaxRunning = options.Parallel,
        ContextLength = options.ContextLength,
        KvBudgetBytes = options.KvBudgetMiB * (1L << 20),
        QueueLimit = options.QueueLimit,
        PrefillTokensPerStep = options.PrefillTokensPerStep,
    };

    static async Task<ModelServer> StartAsync(ServerOptions options, List<ServedModel> served, ServerMetrics metrics, CancellationToken ct)
    {
        var catalog = new ModelCatalog(served);
        var images = new ImageLoader(options.Images);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.WebHost.UseUrls(options.Url);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes);
        var app = builder.Build();
        app.Use((context, next) => HandleErrorsAsync(context, next, metrics));
        app.MapGet("/health", () => Results.Json(new { status = "ok", models = catalog.Models.Select(m => m.Name) }));
        app.MapGet("/v1/models", () => Results.Content(Models(catalog).ToJsonString(), "application/json"));
        app.MapGet("/metrics", () => Results.Text(metrics.Render(catalog.Models), "text/plain; version=0.0.4"));
        app.MapPost("/v1/chat/completions", context => ChatCompletionsEndpoint.HandleAsync(context, catalog, images));
        app.MapPost("/v1/completions", context => CompletionsEndpoint.HandleAsync(context, catalog));
        app.MapPost("/v1/embeddings", context => EmbeddingsEndpoint.HandleAsync(context, catalog));
        app.MapFallback(context => throw new ApiException(404, $"{context.Request.Method} {context.Request.Path} is not an endpoint of this server", null, "not_found"));
        try
        {
            await app.StartAsync(ct);
        }
        catch
        {
            foreach (var model in served)
                model.Dispose();
            images.Dispose();
            throw;
        }
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            foreach (var model in served)
                model.Dispose();
            images.Dispose();
        });
        return new ModelServer(app, catalog, metrics);
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    static JsonObject Models(ModelCatalog catalog) => new()
    {
        ["object"] = "list",
        ["data"] = new JsonArray([.. catalog.Models.Select(m => (JsonNode)new JsonObject
        {
            ["id"] = m.Name,
            ["object"] = "model",
            ["created"] = m.Created.ToUnixTimeSeconds(),
            ["owned_by"] = "modelgrid",
            ["context_length"] = m.Scheduler.ContextLength,
            ["architecture"] = m.Model.Decoder.Architecture,
        })]),
    };

    /// <summary>Maps every failure to OpenAI's error JSON; only a bug in the server gives a 500.</summary>
    static async Task HandleErrorsAsync(HttpContext context, RequestDelegate next, ServerMetrics metrics)
    {
        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its sequence was released by the cancellation. A started response keeps its status.
            if (!context.Response.HasStarted)
                context.Response.StatusCode = 499;
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            var (status, type, param, code, retryAfter) = e switch
            {
                ApiException api => (api.Status, api.Type, api.Param, api.Code, api.RetryAfter),
                QueueFullException busy => (429, "server_busy", null, "queue_full", busy.RetryAfter),
                KvBudgetExceededException => (400, "invalid_request_error", "max_tokens", "kv_budget_exceeded", (TimeSpan?)null),
                ContextLengthExceededException => (400, "invalid_request_error", "max_tokens", "context_length_exceeded", null),
                BadHttpRequestException bad => (bad.StatusCode, "invalid_request_error", null, bad.StatusCode == 413 ? "request_too_large" : "bad_request", null),
                ArgumentException argument when argument.ParamName is { } name => (400, "invalid_request_error", name, "invalid_value", null),
                _ => (500, "server_error", null, null, null),
            };
            context.Response.Clear();
            context.Response.StatusCode = status;
            if (retryAfter is { } delay)
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(delay.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            string message = status == 500 ? $"internal error: {e.GetType().Name}: {e.Message}" : e.Message;
            await context.Response.WriteAsJsonAsync(ResponseJson.Error(message, type, param, code));
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Mid-stream: the status is sent already, so the error goes out as a last event.
            try
            {
                await context.Response.WriteAsync("data: " + JsonSerializer.Serialize(ResponseJson.Error(e.Message, "server_error", null, null)) + "\n\n");
            }
            catch (IOException)
            {
                // The connection broke as well; nothing more to tell the client.
            }
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-stream (a write to the closed connection failed); its sequence is released.
        }
        finally
        {
            metrics.Request(context.Request.Path, context.Response.StatusCode);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

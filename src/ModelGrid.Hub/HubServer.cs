using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelGrid.Hub.Access;
using ModelGrid.Hub.Api;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;
using ModelGrid.Hub.Storage;

namespace ModelGrid.Hub;

public sealed record HubOptions
{
    /// <summary>Holds <c>hub.db</c> (metadata, unless <see cref="PostgresConnectionString"/> is set), <c>blobs/</c> (file store) and <c>upload.key</c>.</summary>
    public required string DataDir { get; init; }
    /// <summary>Keeps the metadata in this PostgreSQL database (an Npgsql connection string) instead of <c>hub.db</c>.</summary>
    public string? PostgresConnectionString { get; init; }
    /// <summary>Kestrel URL; port 0 picks a free port (see <see cref="HubServer.Url"/>).</summary>
    public string Url { get; init; } = "http://127.0.0.1:8080";
    /// <summary>Largest single file accepted (the per-file upload quota).</summary>
    public long MaxFileSize { get; init; } = 256L << 30;
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;
}

/// <summary>The hub's services over one data directory, independent of HTTP (the CLI uses them for tokens).</summary>
public sealed class HubServices : IDisposable
{
    public HubOptions Options { get; }
    public IHubStore Store { get; }
    public BlobStore Blobs { get; }
    public RepoService Repos { get; }
    public AccessTokens Tokens { get; }
    public UploadTickets Tickets { get; }

    HubServices(HubOptions options, IHubStore store)
    {
        Options = options;
        Store = store;
        Blobs = new BlobStore(Path.Combine(options.DataDir, "blobs"));
        Repos = new RepoService(store, Blobs, TimeProvider.System);
        Tokens = new AccessTokens(store);
        Tickets = UploadTickets.LoadOrCreate(Path.Combine(options.DataDir, "upload.key"));
    }

    public static async Task<HubServices> OpenAsync(HubOptions options, CancellationToken ct)
    {
        Directory.CreateDirectory(options.DataDir);
        IHubStore store = options.PostgresConnectionString is { } postgres
            ? new PostgresHubStore(postgres)
            : new SqliteHubStore(Path.Combine(options.DataDir, "hub.db"));
        try
        {
            await store.InitializeAsync(ct);
        }
        catch
        {
            store.Dispose();
            throw;
        }
        return new HubServices(options, store);
    }

    public void Dispose() => Store.Dispose();
}

/// <summary>A running hub: Kestrel serving the Hugging Face-compatible API over a <see cref="HubServices"/>.</summary>
public sealed class HubServer : IAsyncDisposable
{
    readonly WebApplication _app;

    HubServer(WebApplication app, HubServices services)
    {
        _app = app;
        Services = services;
    }

    public HubServices Services { get; }

    /// <summary>The address actually bound (with the real port when the options asked for port 0).</summary>
    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    // Kestrel's default, 64 KiB, makes a download stall on every 64 KiB until the socket drains; with room for a few
    // 1 MiB chunks the next file read overlaps the socket send.
    const int ResponseBufferSize = 4 << 20;

    public static async Task<HubServer> StartAsync(HubOptions options, CancellationToken ct)
    {
        var services = await HubServices.OpenAsync(options, ct);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.WebHost.UseUrls(options.Url);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Bodies are streamed to disk and limited per file by the hub's own quota.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.MaxResponseBufferSize = ResponseBufferSize;
        });
        builder.WebHost.UseSockets(sockets => sockets.MaxWriteBufferSize = ResponseBufferSize);
        builder.Services.AddSingleton(services);
        var app = builder.Build();
        app.Use(HandleErrorsAsync);
        ReadEndpoints.Map(app);
        ModelScopeEndpoints.Map(app);
        WriteEndpoints.Map(app);
        await app.StartAsync(ct);
        return new HubServer(app, services);
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    static async Task HandleErrorsAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (HubException e) when (!context.Response.HasStarted)
        {
            await WriteErrorAsync(context, e.Status, e.Code, e.Message);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await WriteErrorAsync(context, e.StatusCode, "BadRequest", e.Message);
        }
    }

    static async Task WriteErrorAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.Headers["X-Error-Code"] = code;
        context.Response.Headers["X-Error-Message"] = message.ReplaceLineEndings(" ");
        context.Response.ContentType = "application/json";
        if (!HttpMethods.IsHead(context.Request.Method))
            await context.Response.WriteAsync(JsonSerializer.Serialize(new { error = message }), context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Services.Dispose();
    }
}

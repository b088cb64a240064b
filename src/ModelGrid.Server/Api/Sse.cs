using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ModelGrid.Server.Api;

/// <summary>Server-sent events as OpenAI streams them: <c>data: {json}</c> per chunk, then <c>data: [DONE]</c>.</summary>
sealed class Sse(HttpResponse response)
{
    bool _started;

    public async Task WriteAsync(JsonNode chunk, CancellationToken ct)
    {
        if (!_started)
        {
            response.StatusCode = 200;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            _started = true;
        }
        await response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", ct);
        await response.Body.FlushAsync(ct);
    }

    public async Task DoneAsync(CancellationToken ct)
    {
        await response.WriteAsync("data: [DONE]\n\n", ct);
        await response.Body.FlushAsync(ct);
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ModelGrid.Hub.Access;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Api;

/// <summary>Per-request helpers shared by the endpoint groups.</summary>
static class HubRequest
{
    public static HubServices Hub(this HttpContext context) => context.RequestServices.GetRequiredService<HubServices>();

    public static Task<Caller> CallerAsync(this HttpContext context) =>
        context.Hub().Tokens.AuthenticateAsync(context.Request.Headers.Authorization, context.RequestAborted);

    public static async Task<(RepoRecord Repo, Caller Caller)> ReadableRepoAsync(this HttpContext context, string ns, string name)
    {
        var caller = await context.CallerAsync();
        return (await context.Hub().Repos.GetReadableAsync(RepoName.Parse(ns, name), caller, context.RequestAborted), caller);
    }

    public static async Task<JsonObject> ReadJsonObjectAsync(this HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject
                ?? throw HubException.BadRequest("Request body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw HubException.BadRequest($"Request body is not valid JSON: {e.Message}");
        }
    }

    public static string BaseUrl(this HttpRequest request) => $"{request.Scheme}://{request.Host}{request.PathBase}";

    public static IResult Json(JsonNode node, string contentType = "application/json") =>
        Results.Text(node.ToJsonString(), contentType);
}

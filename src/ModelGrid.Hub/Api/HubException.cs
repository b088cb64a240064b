using Microsoft.AspNetCore.Http;

namespace ModelGrid.Hub.Api;

/// <summary>
/// A request the hub refuses, with the HTTP status and the Hugging Face Hub error code
/// (sent as <c>X-Error-Code</c>, which clients use to tell "no such file" from "no such repo").
/// </summary>
public sealed class HubException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;

    public static HubException RepoNotFound(string repo) =>
        new(StatusCodes.Status404NotFound, "RepoNotFound", $"Repository {repo} not found");

    public static HubException RevisionNotFound(string repo, string revision) =>
        new(StatusCodes.Status404NotFound, "RevisionNotFound", $"Revision '{revision}' not found in {repo}");

    public static HubException EntryNotFound(string repo, string revision, string path) =>
        new(StatusCodes.Status404NotFound, "EntryNotFound", $"Entry '{path}' not found in {repo} at revision '{revision}'");

    public static HubException BadRequest(string message) =>
        new(StatusCodes.Status400BadRequest, "BadRequest", message);

    public static HubException Conflict(string message) =>
        new(StatusCodes.Status409Conflict, "Conflict", message);

    public static HubException Unauthorized(string message) =>
        new(StatusCodes.Status401Unauthorized, "Unauthorized", message);

    public static HubException Forbidden(string message) =>
        new(StatusCodes.Status403Forbidden, "Forbidden", message);
}

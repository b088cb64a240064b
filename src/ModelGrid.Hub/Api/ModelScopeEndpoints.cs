using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Api;

/// <summary>
/// The part of ModelScope's model API that downloads use, so ModelScope clients (its <c>modelscope</c> Python SDK,
/// <c>modelgrid pull modelscope:…</c>) can pull from a ModelGrid hub. Shapes as the SDK reads them in
/// modelscope/hub/api.py (<c>HubApi.get_model_files</c>, <c>list_model_revisions</c>) and
/// modelscope/hub/file_download.py (<c>get_file_download_url</c>, <c>download_part_with_retry</c>): JSON answers
/// are wrapped as <c>{"Code": 200, "Data": …, "Message", "RequestId", "Success"}</c>, a file is fetched by query
/// parameters, and large files by HTTP ranges.
/// </summary>
static class ModelScopeEndpoints
{
    /// <summary>ModelScope's default branch; a hub repository without one serves its <c>main</c> under this name.</summary>
    public const string DefaultRevision = "master";

    public static void Map(WebApplication app)
    {
        app.MapGet("/api/v1/models/{ns}/{name}/repo/files", FilesAsync);
        app.MapMethods("/api/v1/models/{ns}/{name}/repo", [HttpMethods.Get, HttpMethods.Head], FileAsync);
        app.MapGet("/api/v1/models/{ns}/{name}/revisions", RevisionsAsync);
    }

    static async Task<(RepoRecord Repo, ResolvedRevision Resolved, string Revision)> ResolveAsync(HttpContext context, string ns, string name)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var revision = context.Request.Query["Revision"].FirstOrDefault() is { Length: > 0 } given ? given : DefaultRevision;
        var repos = context.Hub().Repos;
        try
        {
            return (repo, await repos.ResolveAsync(repo, revision, context.RequestAborted), revision);
        }
        catch (HubException e) when (e.Code == "RevisionNotFound" && revision == DefaultRevision)
        {
            return (repo, await repos.ResolveAsync(repo, RepoService.DefaultBranch, context.RequestAborted), revision);
        }
    }

    static IResult Envelope(JsonNode data) => HubRequest.Json(new JsonObject
    {
        ["Code"] = 200,
        ["Data"] = data,
        ["Message"] = "success",
        ["RequestId"] = Guid.NewGuid().ToString("N"),
        ["Success"] = true,
    });

    /// <summary>
    /// <c>GET /api/v1/models/{owner}/{name}/repo/files?Revision=&amp;Recursive=&amp;Root=</c>: entries
    /// <c>{Name, Path, Type: "blob"|"tree", Size, Sha256, Revision, IsLFS, CommittedDate}</c> in <c>Data.Files</c>.
    /// </summary>
    static async Task<IResult> FilesAsync(HttpContext context, string ns, string name)
    {
        var (repo, resolved, _) = await ResolveAsync(context, ns, name);
        var query = context.Request.Query;
        var recursive = query["Recursive"].FirstOrDefault() is { } flag && flag.Equals("true", StringComparison.OrdinalIgnoreCase);
        var root = query["Root"].FirstOrDefault()?.Trim('/') ?? "";
        var prefix = root.Length == 0 ? "" : RepoPath.Validate(root) + "/";
        var files = (await context.Hub().Store.ListFilesAsync(repo.Id, resolved.Commit.Id, context.RequestAborted))
            .Where(f => f.Path.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var committed = resolved.Commit.Time.ToUnixTimeSeconds();
        JsonObject Entry(string path, string type, long size, string? sha256) => new()
        {
            ["Name"] = path[(path.LastIndexOf('/') + 1)..],
            ["Path"] = path,
            ["Type"] = type,
            ["Size"] = size,
            ["Sha256"] = sha256,
            ["Revision"] = resolved.Commit.Id,
            ["IsLFS"] = sha256 is not null,
            ["CommittedDate"] = committed,
        };
        var entries = new List<JsonObject>();
        var directories = files
            .SelectMany(f => ReadEndpoints.DirectoriesBetween(prefix, f.Path))
            .Distinct()
            .Where(d => recursive || !d[prefix.Length..].Contains('/'));
        entries.AddRange(directories.Select(d => Entry(d, "tree", 0, null)));
        entries.AddRange(files.Where(f => recursive || !f.Path[prefix.Length..].Contains('/')).Select(f => Entry(f.Path, "blob", f.Size, f.Sha256)));
        return Envelope(new JsonObject { ["Files"] = new JsonArray([.. entries.OrderBy(e => (string)e["Path"]!, StringComparer.Ordinal)]) });
    }

    /// <summary><c>GET /api/v1/models/{owner}/{name}/repo?Revision=&amp;FilePath=</c>: the file's bytes (ranges as for <c>resolve</c>).</summary>
    static async Task<IResult> FileAsync(HttpContext context, string ns, string name)
    {
        var (repo, resolved, revision) = await ResolveAsync(context, ns, name);
        return await ReadEndpoints.FileAsync(context, repo, resolved, revision, context.Request.Query["FilePath"].FirstOrDefault());
    }

    /// <summary><c>GET /api/v1/models/{owner}/{name}/revisions</c>: <c>Data.RevisionMap.{Branches,Tags}[].Revision</c>.</summary>
    static async Task<IResult> RevisionsAsync(HttpContext context, string ns, string name)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var refs = await context.Hub().Store.ListRefsAsync(repo.Id, context.RequestAborted);
        JsonArray Of(RefKind kind) => new([.. refs.Where(r => r.Kind == kind).Select(r => (JsonNode)new JsonObject { ["Revision"] = r.Name, ["CommitId"] = r.CommitId })]);
        return Envelope(new JsonObject { ["RevisionMap"] = new JsonObject { ["Branches"] = Of(RefKind.Branch), ["Tags"] = Of(RefKind.Tag) } });
    }
}

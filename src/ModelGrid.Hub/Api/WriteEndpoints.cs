using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;
using ModelGrid.Hub.Storage;

namespace ModelGrid.Hub.Api;

/// <summary>
/// The Hugging Face Hub's write protocol as <c>@huggingface/hub</c> and <c>huggingface_hub</c> speak it:
/// create repo, preupload, Git LFS batch (basic transfer to signed URLs), NDJSON commit; plus tags,
/// branches and likes.
/// </summary>
static class WriteEndpoints
{
    // NDJSON commits may inline small files as base64; the weights travel through LFS uploads.
    const long MaxCommitBodyBytes = 256L << 20;
    const string LfsJson = "application/vnd.git-lfs+json";

    public static void Map(WebApplication app)
    {
        app.MapPost("/api/repos/create", (Delegate)CreateRepoAsync);
        app.MapGet("/api/whoami-v2", (Delegate)WhoAmIAsync);
        app.MapPost("/api/models/{ns}/{name}/preupload/{rev}", PreuploadAsync);
        app.MapPost("/{ns}/{name}.git/info/lfs/objects/batch", LfsBatchAsync);
        app.MapPut("/api/lfs/objects/{oid}", UploadObjectAsync);
        app.MapPost("/api/models/{ns}/{name}/commit/{rev}", CommitAsync);
        app.MapPost("/api/models/{ns}/{name}/tag/{rev}", CreateTagAsync);
        app.MapPost("/api/models/{ns}/{name}/branch/{branch}", CreateBranchAsync);
        app.MapPost("/api/models/{ns}/{name}/like", (HttpContext c, string ns, string name) => LikeAsync(c, ns, name, true));
        app.MapDelete("/api/models/{ns}/{name}/like", (HttpContext c, string ns, string name) => LikeAsync(c, ns, name, false));
    }

    static async Task<IResult> CreateRepoAsync(HttpContext context)
    {
        var caller = await context.CallerAsync();
        caller.RequireUser();
        var body = await context.ReadJsonObjectAsync();
        var type = Str(body, "type") ?? "model";
        if (type != "model")
            throw HubException.BadRequest($"Repository type '{type}' is not hosted here; only models are");
        var name = Str(body, "name") ?? throw HubException.BadRequest("Missing 'name'");
        var ns = Str(body, "organization") ?? caller.User!;
        var isPrivate = Str(body, "visibility") is "private" || body["private"] is JsonValue v && v.TryGetValue<bool>(out var p) && p;
        var repo = await context.Hub().Repos.CreateAsync(RepoName.Parse(ns, name), isPrivate, caller, context.RequestAborted);
        return HubRequest.Json(new JsonObject
        {
            ["url"] = $"{context.Request.BaseUrl()}/{repo.Name}",
            ["name"] = repo.Name.ToString(),
            ["id"] = repo.Id.ToString("x24", CultureInfo.InvariantCulture),
        });
    }

    static async Task<IResult> WhoAmIAsync(HttpContext context)
    {
        var caller = await context.CallerAsync();
        return HubRequest.Json(new JsonObject
        {
            ["type"] = "user",
            ["name"] = caller.RequireUser(),
            ["orgs"] = new JsonArray([.. caller.Namespaces.Where(n => n != caller.User).Select(n => (JsonNode)new JsonObject { ["name"] = n })]),
            ["auth"] = new JsonObject { ["type"] = "access_token", ["accessToken"] = new JsonObject { ["role"] = "write" } },
        });
    }

    static async Task<(RepoRecord Repo, Access.Caller Caller)> WritableRepoAsync(HttpContext context, string ns, string name)
    {
        var (repo, caller) = await context.ReadableRepoAsync(ns, name);
        caller.RequireWrite(repo.Name);
        return (repo, caller);
    }

    static async Task<IResult> PreuploadAsync(HttpContext context, string ns, string name, string rev)
    {
        var (repo, _) = await WritableRepoAsync(context, ns, name);
        await context.Hub().Repos.ResolveAsync(repo, rev, context.RequestAborted);
        var body = await context.ReadJsonObjectAsync();
        var files = body["files"] as JsonArray ?? throw HubException.BadRequest("Missing 'files' array");
        var maxSize = context.Hub().Options.MaxFileSize;
        var answer = new JsonArray();
        foreach (var file in files.OfType<JsonObject>())
        {
            var path = RepoPath.Validate(Str(file, "path"));
            var size = file["size"]?.GetValue<long>() ?? throw HubException.BadRequest($"File '{path}': missing 'size'");
            if (size > maxSize)
                throw new HubException(StatusCodes.Status413PayloadTooLarge, "PayloadTooLarge",
                    $"File '{path}' of {size} bytes exceeds the hub's limit of {maxSize} bytes per file");
            // Every file goes through the LFS path: content streams to the blob store instead of riding
            // base64-encoded inside the commit body.
            answer.Add(new JsonObject { ["path"] = path, ["uploadMode"] = "lfs", ["shouldIgnore"] = false });
        }
        return HubRequest.Json(new JsonObject { ["files"] = answer, ["commitOid"] = null });
    }

    static async Task<IResult> LfsBatchAsync(HttpContext context, string ns, string name)
    {
        var (repo, _) = await WritableRepoAsync(context, ns, name);
        var hub = context.Hub();
        var body = await context.ReadJsonObjectAsync();
        if (Str(body, "operation") != "upload")
            throw HubException.BadRequest("Only the 'upload' LFS batch operation is served; download through /resolve/");
        if (Str(body, "hash_algo") is { } algo && algo != "sha_256" && algo != "sha256")
            throw HubException.BadRequest($"Unsupported LFS hash_algo '{algo}'; use sha_256");
        var objects = new JsonArray();
        foreach (var obj in (body["objects"] as JsonArray ?? throw HubException.BadRequest("Missing 'objects' array")).OfType<JsonObject>())
        {
            var oid = Str(obj, "oid") ?? "";
            var size = obj["size"] is JsonValue s && s.TryGetValue<long>(out var n) ? n : -1;
            var answer = new JsonObject { ["oid"] = oid, ["size"] = size, ["authenticated"] = true };
            if (!BlobStore.IsSha256(oid) || size < 0)
                answer["error"] = new JsonObject { ["code"] = 422, ["message"] = $"Object '{oid}' needs a lowercase hex sha256 oid and a size >= 0" };
            else if (size > hub.Options.MaxFileSize)
                answer["error"] = new JsonObject { ["code"] = 413, ["message"] = $"Object of {size} bytes exceeds the hub's limit of {hub.Options.MaxFileSize} bytes per file" };
            else if (hub.Blobs.Find(oid) is not { } existing || existing.Size != size)
            {
                var href = $"{context.Request.BaseUrl()}/api/lfs/objects/{oid}?{hub.Tickets.Issue(repo.Name.ToString(), oid, size)}";
                answer["actions"] = new JsonObject
                {
                    ["upload"] = new JsonObject { ["href"] = href, ["expires_in"] = (int)Access.UploadTickets.Lifetime.TotalSeconds },
                };
            }
            objects.Add(answer);
        }
        return HubRequest.Json(new JsonObject { ["transfer"] = "basic", ["objects"] = objects }, LfsJson);
    }

    static async Task<IResult> UploadObjectAsync(HttpContext context, string oid)
    {
        var hub = context.Hub();
        var q = context.Request.Query;
        if (!BlobStore.IsSha256(oid))
            throw HubException.BadRequest($"'{oid}' is not a lowercase hex sha256");
        if (!long.TryParse(q["size"], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
            throw HubException.BadRequest("Upload URL is missing its size parameter");
        hub.Tickets.Verify(q["repo"], oid, size, q["expires"], q["signature"]);
        if (context.Request.ContentLength is { } length && length != size)
            throw HubException.BadRequest($"Content-Length {length} differs from the declared size {size} of object {oid}");
        var blob = await hub.Blobs.WriteAsync(context.Request.Body, oid, size, hub.Options.MaxFileSize, context.RequestAborted);
        context.Response.Headers.ETag = $"\"{blob.Sha256}\"";
        return Results.Ok();
    }

    static async Task<IResult> CommitAsync(HttpContext context, string ns, string name, string rev)
    {
        var (repo, caller) = await WritableRepoAsync(context, ns, name);
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = MaxCommitBodyBytes;
        var hub = context.Hub();
        string? title = null, description = null, parent = null;
        var upserts = new List<FileChange>();
        var deletedFiles = new List<string>();
        var deletedFolders = new List<string>();
        using var reader = new StreamReader(context.Request.Body);
        var lineNumber = 0;
        while (await reader.ReadLineAsync(context.RequestAborted) is { } line)
        {
            lineNumber++;
            if (line.Length == 0)
                continue;
            JsonObject entry, value;
            try
            {
                entry = JsonNode.Parse(line) as JsonObject ?? throw HubException.BadRequest($"Commit line {lineNumber} is not a JSON object");
                value = entry["value"] as JsonObject ?? throw HubException.BadRequest($"Commit line {lineNumber} has no 'value' object");
            }
            catch (JsonException e)
            {
                throw HubException.BadRequest($"Commit line {lineNumber} is not valid JSON: {e.Message}");
            }
            switch (Str(entry, "key"))
            {
                case "header":
                    (title, description, parent) = (Str(value, "summary"), Str(value, "description"), Str(value, "parentCommit"));
                    break;
                case "lfsFile":
                    var oid = Str(value, "oid") ?? throw HubException.BadRequest($"Commit line {lineNumber}: lfsFile without 'oid'");
                    if (Str(value, "algo") is { } algo && algo != "sha256")
                        throw HubException.BadRequest($"Commit line {lineNumber}: unsupported algo '{algo}'");
                    var size = value["size"] is JsonValue s && s.TryGetValue<long>(out var n) ? n
                        : throw HubException.BadRequest($"Commit line {lineNumber}: lfsFile without 'size'");
                    upserts.Add(new FileChange(RepoPath.Validate(Str(value, "path")), oid, size));
                    break;
                case "file":
                    upserts.Add(await StoreInlineFileAsync(hub, value, lineNumber, context.RequestAborted));
                    break;
                case "deletedFile":
                    deletedFiles.Add(RepoPath.Validate(Str(value, "path")));
                    break;
                case "deletedFolder":
                    deletedFolders.Add(RepoPath.Validate(Str(value, "path")?.TrimEnd('/')));
                    break;
                default:
                    throw HubException.BadRequest($"Commit line {lineNumber}: unknown key '{Str(entry, "key")}'");
            }
        }
        var request = new CommitRequest(rev, title ?? "", description, parent, upserts, deletedFiles, deletedFolders);
        var commit = await hub.Repos.CommitAsync(repo, caller, request, context.RequestAborted);
        return HubRequest.Json(new JsonObject
        {
            ["success"] = true,
            ["commitOid"] = commit.Id,
            ["commitUrl"] = $"{context.Request.BaseUrl()}/{repo.Name}/commit/{commit.Id}",
            ["commitMessage"] = commit.Title,
            ["hookOutput"] = "",
        });
    }

    static async Task<FileChange> StoreInlineFileAsync(HubServices hub, JsonObject value, int lineNumber, CancellationToken ct)
    {
        var path = RepoPath.Validate(Str(value, "path"));
        var content = Str(value, "content") ?? "";
        byte[] bytes;
        try
        {
            bytes = Str(value, "encoding") is "base64" ? Convert.FromBase64String(content) : System.Text.Encoding.UTF8.GetBytes(content);
        }
        catch (FormatException)
        {
            throw HubException.BadRequest($"Commit line {lineNumber}: content of '{path}' is not valid base64");
        }
        using var stream = new MemoryStream(bytes, writable: false);
        var blob = await hub.Blobs.WriteAsync(stream, null, bytes.Length, hub.Options.MaxFileSize, ct);
        return new FileChange(path, blob.Sha256, blob.Size);
    }

    static async Task<IResult> CreateTagAsync(HttpContext context, string ns, string name, string rev)
    {
        var (repo, caller) = await WritableRepoAsync(context, ns, name);
        var body = await context.ReadJsonObjectAsync();
        var tag = Str(body, "tag") ?? throw HubException.BadRequest("Missing 'tag'");
        var created = await context.Hub().Repos.CreateRefAsync(repo, caller, RefKind.Tag, tag, rev, context.RequestAborted);
        return HubRequest.Json(new JsonObject { ["name"] = created.Name, ["targetCommit"] = created.CommitId });
    }

    static async Task<IResult> CreateBranchAsync(HttpContext context, string ns, string name, string branch)
    {
        var (repo, caller) = await WritableRepoAsync(context, ns, name);
        var from = context.Request.ContentLength is > 0 ? Str(await context.ReadJsonObjectAsync(), "startingPoint") : null;
        var created = await context.Hub().Repos.CreateRefAsync(repo, caller, RefKind.Branch, branch, from ?? RepoService.DefaultBranch, context.RequestAborted);
        return HubRequest.Json(new JsonObject { ["name"] = created.Name, ["targetCommit"] = created.CommitId });
    }

    static async Task<IResult> LikeAsync(HttpContext context, string ns, string name, bool liked)
    {
        var (repo, caller) = await context.ReadableRepoAsync(ns, name);
        var likes = await context.Hub().Store.SetLikeAsync(repo.Id, caller.RequireUser(), liked, context.RequestAborted);
        return HubRequest.Json(new JsonObject { ["likes"] = likes });
    }

    static string? Str(JsonObject obj, string key) =>
        obj[key] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}

using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Api;

/// <summary>The Hugging Face Hub's read and download API, plus ModelGrid's lineage query.</summary>
static class ReadEndpoints
{
    const int DefaultPageSize = 100;
    const int MaxPageSize = 1000;
    const int MaxLineageDepth = 64;
    static readonly FileExtensionContentTypeProvider ContentTypes = new();
    static readonly string[] WeightExtensions = [".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack"];

    public static void Map(WebApplication app)
    {
        app.MapGet("/api/models", (Delegate)ListModelsAsync);
        app.MapGet("/api/models/{ns}/{name}", (HttpContext c, string ns, string name) => ModelInfoAsync(c, ns, name, "HEAD"));
        app.MapGet("/api/models/{ns}/{name}/revision/{rev}", ModelInfoAsync);
        app.MapGet("/api/models/{ns}/{name}/tree/{rev}/{**path}", TreeAsync);
        app.MapGet("/api/models/{ns}/{name}/refs", RefsAsync);
        app.MapGet("/api/models/{ns}/{name}/commits/{rev}", CommitsAsync);
        app.MapGet("/api/models/{ns}/{name}/lineage", LineageAsync);
        app.MapMethods("/{ns}/{name}/resolve/{rev}/{**path}", [HttpMethods.Get, HttpMethods.Head], ResolveAsync);
    }

    static async Task<IResult> ListModelsAsync(HttpContext context)
    {
        var q = context.Request.Query;
        var caller = await context.CallerAsync();
        var limit = ParseInt(q["limit"], "limit", DefaultPageSize, 1, MaxPageSize);
        var offset = ParseInt(q["cursor"], "cursor", 0, 0, int.MaxValue);
        var tags = q["filter"].SelectMany(f => (f ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        // Dedicated parameters the Hub also accepts, each equivalent to a tag filter.
        foreach (var key in new[] { "library", "pipeline_tag", "language" })
            tags.AddRange(q[key].OfType<string>().Where(v => v.Length > 0));
        tags.AddRange(q["model_type"].OfType<string>().Where(v => v.Length > 0));
        tags.AddRange(q["base_model"].OfType<string>().Where(v => v.Length > 0).Select(b => $"base_model:{b}"));
        var query = new ModelQuery
        {
            Search = q["search"].FirstOrDefault(),
            Author = q["author"].FirstOrDefault(),
            Tags = tags,
            Sort = ParseSort(q["sort"].FirstOrDefault()),
            Descending = q["direction"].FirstOrDefault() is not ("1" or "asc"),
            Limit = limit,
            Offset = offset,
            VisibleNamespaces = caller.Namespaces,
        };
        var page = await context.Hub().Store.SearchAsync(query, context.RequestAborted);
        LinkNextPage(context, page.Count, offset, limit);
        return HubRequest.Json(new JsonArray([.. page.Select(r => (JsonNode)HubJson.ModelSummary(r))]));
    }

    /// <summary>A full page may have a successor: link it as the Hub does, <c>Link: &lt;…cursor=N&gt;; rel="next"</c>.</summary>
    static void LinkNextPage(HttpContext context, int count, int offset, int limit)
    {
        if (count < limit)
            return;
        var q = context.Request.Query;
        var next = QueryString.Create(q.Where(p => p.Key != "cursor").SelectMany(p => p.Value.Select(v => KeyValuePair.Create(p.Key, v))))
            .Add("cursor", (offset + limit).ToString(CultureInfo.InvariantCulture));
        context.Response.Headers.Link = $"<{context.Request.BaseUrl()}{context.Request.Path}{next}>; rel=\"next\"";
    }

    static ModelSort ParseSort(string? sort) => sort switch
    {
        null or "" or "downloads" or "downloadsAllTime" => ModelSort.Downloads,
        "likes" => ModelSort.Likes,
        "lastModified" or "last_modified" => ModelSort.LastModified,
        "createdAt" or "created_at" => ModelSort.CreatedAt,
        "id" or "modelId" => ModelSort.Id,
        "num_parameters" => ModelSort.Parameters,
        _ => throw HubException.BadRequest($"Unknown sort '{sort}': use downloads, likes, lastModified, createdAt, id or num_parameters"),
    };

    static int ParseInt(string? text, string name, int fallback, int min, int max)
    {
        if (string.IsNullOrEmpty(text))
            return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw HubException.BadRequest($"Query parameter '{name}' must be an integer from {min} to {max}, got '{text}'");
    }

    static async Task<IResult> ModelInfoAsync(HttpContext context, string ns, string name, string rev)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var hub = context.Hub();
        var resolved = await hub.Repos.ResolveAsync(repo, rev, context.RequestAborted);
        var files = await hub.Store.ListFilesAsync(repo.Id, resolved.Commit.Id, context.RequestAborted);
        var withBlobs = context.Request.Query["blobs"].FirstOrDefault() is "true" or "1";
        return HubRequest.Json(HubJson.ModelInfo(repo, resolved.Commit, files, withBlobs));
    }

    static async Task<IResult> TreeAsync(HttpContext context, string ns, string name, string rev, string? path)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var hub = context.Hub();
        var resolved = await hub.Repos.ResolveAsync(repo, rev, context.RequestAborted);
        var folder = string.IsNullOrEmpty(path) ? "" : RepoPath.Validate(path.TrimEnd('/'));
        var prefix = folder.Length == 0 ? "" : folder + "/";
        var recursive = context.Request.Query["recursive"].FirstOrDefault() is "true" or "1";
        var inFolder = (await hub.Store.ListFilesAsync(repo.Id, resolved.Commit.Id, context.RequestAborted))
            .Where(f => f.Path.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        if (folder.Length > 0 && inFolder.Count == 0)
            throw HubException.EntryNotFound(repo.Name.ToString(), rev, folder);

        var entries = new List<JsonObject>();
        var directories = inFolder
            .SelectMany(f => DirectoriesBetween(prefix, f.Path))
            .Distinct()
            .Where(d => recursive || !d[prefix.Length..].Contains('/'));
        foreach (var directory in directories.Order(StringComparer.Ordinal))
            entries.Add(HubJson.TreeDirectory(directory, inFolder.Where(f => f.Path.StartsWith(directory + "/", StringComparison.Ordinal))));
        foreach (var file in inFolder.Where(f => recursive || !f.Path[prefix.Length..].Contains('/')))
            entries.Add(HubJson.TreeFile(file));
        return HubRequest.Json(new JsonArray([.. entries.OrderBy(e => (string)e["path"]!, StringComparer.Ordinal)]));
    }

    public static IEnumerable<string> DirectoriesBetween(string prefix, string path)
    {
        for (var slash = path.IndexOf('/', prefix.Length); slash >= 0; slash = path.IndexOf('/', slash + 1))
            yield return path[..slash];
    }

    static async Task<IResult> RefsAsync(HttpContext context, string ns, string name)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var refs = await context.Hub().Store.ListRefsAsync(repo.Id, context.RequestAborted);
        JsonArray Of(RefKind kind, string prefix) => new([.. refs.Where(r => r.Kind == kind).Select(r => (JsonNode)new JsonObject
        {
            ["name"] = r.Name,
            ["ref"] = $"refs/{prefix}/{r.Name}",
            ["targetCommit"] = r.CommitId,
        })]);
        return HubRequest.Json(new JsonObject
        {
            ["branches"] = Of(RefKind.Branch, "heads"),
            ["tags"] = Of(RefKind.Tag, "tags"),
            ["converts"] = new JsonArray(),
        });
    }

    static async Task<IResult> CommitsAsync(HttpContext context, string ns, string name, string rev)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var hub = context.Hub();
        var resolved = await hub.Repos.ResolveAsync(repo, rev, context.RequestAborted);
        var limit = ParseInt(context.Request.Query["limit"], "limit", DefaultPageSize, 1, MaxPageSize);
        var history = await hub.Store.ListHistoryAsync(repo.Id, resolved.Commit.Id, limit, context.RequestAborted);
        return HubRequest.Json(new JsonArray([.. history.Select(c => (JsonNode)HubJson.Commit(c))]));
    }

    /// <summary>
    /// ModelGrid extension: the transitive lineage of a model, either way, with relation types; paged as
    /// <c>/api/models</c> (<c>limit</c>, <c>cursor</c>, <c>Link</c>), since a popular base has thousands of descendants.
    /// </summary>
    static async Task<IResult> LineageAsync(HttpContext context, string ns, string name)
    {
        var (repo, caller) = await context.ReadableRepoAsync(ns, name);
        var store = context.Hub().Store;
        var q = context.Request.Query;
        var depth = ParseInt(q["depth"], "depth", MaxLineageDepth, 1, MaxLineageDepth);
        var limit = ParseInt(q["limit"], "limit", DefaultPageSize, 1, MaxPageSize);
        var offset = ParseInt(q["cursor"], "cursor", 0, 0, int.MaxValue);
        var page = new LineagePage(depth, limit, offset);
        var direction = q["direction"].FirstOrDefault() ?? "descendants";
        var edges = direction switch
        {
            "ancestors" => await store.AncestorsAsync(repo.Name.ToString(), page, context.RequestAborted),
            "descendants" => await store.DescendantsAsync(repo.Name.ToString(), page, caller.Namespaces, context.RequestAborted),
            _ => throw HubException.BadRequest($"Unknown lineage direction '{direction}': use ancestors or descendants"),
        };
        LinkNextPage(context, edges.Count, offset, limit);
        return HubRequest.Json(new JsonArray([.. edges.Select(e => (JsonNode)new JsonObject
        {
            ["id"] = e.Model,
            ["relation"] = e.Relation,
            ["depth"] = e.Depth,
            ["via"] = e.Via,
        })]));
    }

    static async Task<IResult> ResolveAsync(HttpContext context, string ns, string name, string rev, string? path)
    {
        var (repo, _) = await context.ReadableRepoAsync(ns, name);
        var resolved = await context.Hub().Repos.ResolveAsync(repo, rev, context.RequestAborted);
        return await FileAsync(context, repo, resolved, rev, path);
    }

    /// <summary>A file of a revision with the Hub's headers, ranges and conditional requests; counted as a download when it is one.</summary>
    public static async Task<IResult> FileAsync(HttpContext context, RepoRecord repo, ResolvedRevision resolved, string rev, string? path)
    {
        var hub = context.Hub();
        var filePath = RepoPath.Validate(path);
        var file = await hub.Store.FindFileAsync(repo.Id, resolved.Commit.Id, filePath, context.RequestAborted)
            ?? throw HubException.EntryNotFound(repo.Name.ToString(), rev, filePath);

        var etag = $"\"{file.Sha256}\"";
        var headers = context.Response.Headers;
        headers["X-Repo-Commit"] = resolved.Commit.Id;
        headers["X-Linked-Size"] = file.Size.ToString(CultureInfo.InvariantCulture);
        headers["X-Linked-ETag"] = etag;
        headers.ContentDisposition = $"inline; filename*=UTF-8''{Uri.EscapeDataString(Path.GetFileName(filePath))}";
        if (CountsAsDownload(context.Request, filePath))
            await hub.Store.AddDownloadAsync(repo.Id, context.RequestAborted);
        var contentType = ContentTypes.TryGetContentType(filePath, out var known) ? known : "application/octet-stream";
        context.UseDirectFileBodies();
        return Results.File(hub.Blobs.PathOf(file.Sha256), contentType, lastModified: resolved.Commit.Time,
            entityTag: EntityTagHeaderValue.Parse(etag), enableRangeProcessing: true);
    }

    // As the Hugging Face Hub counts: one GET of a weight file is one download. Metadata probes (HEAD, the
    // one-byte "bytes=0-0" range clients send to learn size and ETag) and continuation ranges are not.
    static bool CountsAsDownload(HttpRequest request, string path)
    {
        if (!HttpMethods.IsGet(request.Method) || !WeightExtensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            return false;
        var range = request.Headers.Range.ToString();
        return range.Length == 0 || (range.StartsWith("bytes=0-", StringComparison.Ordinal) && range != "bytes=0-0");
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Client;

/// <summary>A file of a remote revision, as its tree listing describes it.</summary>
public sealed record RemoteFile(string Path, long Size, string? Sha256);

/// <summary>Bytes moved so far for one file.</summary>
public readonly record struct TransferProgress(string Path, long Done, long Total);

/// <summary>A hub answered with an error; <see cref="Status"/> and the hub's own message are kept.</summary>
public sealed class HubClientException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>Which download API a hub speaks.</summary>
public enum HubApi
{
    /// <summary>The Hugging Face Hub's (a ModelGrid hub, huggingface.co): <c>/api/models/…/tree</c>, <c>/…/resolve/…</c>.</summary>
    HuggingFace,
    /// <summary>ModelScope's (modelscope.cn, and a ModelGrid hub too): <c>/api/v1/models/…/repo/files</c>, <c>/…/repo?FilePath=</c>.</summary>
    ModelScope,
}

/// <summary>
/// Client for a hub that speaks the Hugging Face Hub protocol (a ModelGrid hub or the Hugging Face Hub itself):
/// pushes a directory through preupload, LFS batch and an NDJSON commit; pulls files with resume and SHA-256 checks.
/// With <see cref="HubApi.ModelScope"/> it lists and pulls through ModelScope's API instead.
/// </summary>
public sealed class HubClient(HttpClient http, string? token, HubApi api = HubApi.HuggingFace)
{
    const int UploadBufferSize = 1 << 20;

    /// <summary>Connections fetching one large file at once; null (the default) adds them only while they raise the rate.</summary>
    public int? Connections { get; init; }

    HttpRequestMessage Request(HttpMethod method, string url)
    {
        var request = new HttpRequestMessage(method, url);
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var response = await http.SendAsync(request, completion, ct);
        if (response.IsSuccessStatusCode)
            return response;
        var body = await response.Content.ReadAsStringAsync(ct);
        var message = body;
        try
        {
            message = JsonNode.Parse(body)?["error"]?.GetValue<string>() ?? body;
        }
        catch (JsonException)
        {
        }
        response.Dispose();
        throw new HubClientException(response.StatusCode, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode} {message}");
    }

    async Task<JsonNode> SendJsonAsync(HttpMethod method, string url, JsonNode? body, CancellationToken ct)
    {
        using var request = Request(method, url);
        if (body is not null)
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await SendAsync(request, ct);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
    }

    /// <summary>Creates the repository; false if it already exists.</summary>
    public async Task<bool> CreateRepoAsync(RepoName repo, bool isPrivate, CancellationToken ct)
    {
        try
        {
            await SendJsonAsync(HttpMethod.Post, "api/repos/create", new JsonObject
            {
                ["name"] = repo.Name,
                ["organization"] = repo.Namespace,
                ["type"] = "model",
                ["private"] = isPrivate,
            }, ct);
            return true;
        }
        catch (HubClientException e) when (e.Status == HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    /// <summary>Uploads every file under <paramref name="directory"/> as one commit; returns the commit id.</summary>
    public async Task<string> PushDirectoryAsync(string directory, RepoName repo, string message, string branch,
        IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        var files = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(full => (Full: full, Path: Path.GetRelativePath(directory, full).Replace('\\', '/')))
            .Where(f => !f.Path.StartsWith(".git/", StringComparison.Ordinal) && !f.Path.StartsWith(".cache/", StringComparison.Ordinal))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
            throw new ArgumentException($"Directory '{directory}' has no files to push", nameof(directory));
        var branchSegment = Uri.EscapeDataString(branch);

        await SendJsonAsync(HttpMethod.Post, $"api/models/{repo}/preupload/{branchSegment}", new JsonObject
        {
            ["files"] = new JsonArray([.. files.Select(f => (JsonNode)new JsonObject
            {
                ["path"] = f.Path,
                ["size"] = new FileInfo(f.Full).Length,
                ["sample"] = "",
            })]),
        }, ct);

        var hashed = new List<(string Full, string Path, string Sha256, long Size)>();
        foreach (var (full, path) in files)
        {
            await using var stream = File.OpenRead(full);
            hashed.Add((full, path, Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct)), stream.Length));
        }

        var batch = await SendJsonAsync(HttpMethod.Post, $"{repo}.git/info/lfs/objects/batch", new JsonObject
        {
            ["operation"] = "upload",
            ["transfers"] = new JsonArray("basic"),
            ["hash_algo"] = "sha_256",
            ["objects"] = new JsonArray([.. hashed.DistinctBy(f => f.Sha256).Select(f => (JsonNode)new JsonObject { ["oid"] = f.Sha256, ["size"] = f.Size })]),
        }, ct);
        foreach (var obj in batch["objects"]!.AsArray().OfType<JsonObject>())
        {
            var oid = obj["oid"]!.GetValue<string>();
            var file = hashed.First(f => f.Sha256 == oid);
            if (obj["error"] is JsonObject error)
                throw new HubClientException((HttpStatusCode)error["code"]!.GetValue<int>(), $"{file.Path}: {error["message"]}");
            if (obj["actions"]?["upload"]?["href"]?.GetValue<string>() is not { } href)
            {
                progress?.Report(new TransferProgress(file.Path, file.Size, file.Size));
                continue;
            }
            await using var content = new ProgressStream(File.OpenRead(file.Full), done => progress?.Report(new TransferProgress(file.Path, done, file.Size)));
            using var put = new HttpRequestMessage(HttpMethod.Put, href) { Content = new StreamContent(content, UploadBufferSize) };
            put.Content.Headers.ContentLength = file.Size;
            (await SendAsync(put, ct)).Dispose();
        }

        var ndjson = new StringBuilder();
        ndjson.AppendLine(new JsonObject { ["key"] = "header", ["value"] = new JsonObject { ["summary"] = message, ["description"] = "" } }.ToJsonString());
        foreach (var file in hashed)
        {
            ndjson.AppendLine(new JsonObject
            {
                ["key"] = "lfsFile",
                ["value"] = new JsonObject { ["path"] = file.Path, ["algo"] = "sha256", ["oid"] = file.Sha256, ["size"] = file.Size },
            }.ToJsonString());
        }
        using var commit = Request(HttpMethod.Post, $"api/models/{repo}/commit/{branchSegment}");
        commit.Content = new StringContent(ndjson.ToString(), Encoding.UTF8, "application/x-ndjson");
        using var response = await SendAsync(commit, ct);
        var result = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
        return result!["commitOid"]!.GetValue<string>();
    }

    /// <summary>The branch a revision-less pull reads: <c>main</c>, or ModelScope's <c>master</c>.</summary>
    public string DefaultRevision => api == HubApi.ModelScope ? "master" : RepoService.DefaultBranch;

    /// <summary>Every file of <paramref name="revision"/>, with its SHA-256 where the hub stores it as LFS.</summary>
    public Task<IReadOnlyList<RemoteFile>> ListFilesAsync(RepoName repo, string revision, CancellationToken ct) =>
        api == HubApi.ModelScope ? ListModelScopeFilesAsync(repo, revision, ct) : ListTreeFilesAsync(repo, revision, ct);

    async Task<IReadOnlyList<RemoteFile>> ListTreeFilesAsync(RepoName repo, string revision, CancellationToken ct)
    {
        var files = new List<RemoteFile>();
        string? url = $"api/models/{repo}/tree/{Uri.EscapeDataString(revision)}?recursive=true";
        while (url is not null)
        {
            using var request = Request(HttpMethod.Get, url);
            using var response = await SendAsync(request, ct);
            var entries = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!.AsArray();
            files.AddRange(entries.OfType<JsonObject>()
                .Where(e => e["type"]?.GetValue<string>() == "file")
                .Select(e => new RemoteFile(e["path"]!.GetValue<string>(), e["size"]!.GetValue<long>(), e["lfs"]?["oid"]?.GetValue<string>())));
            url = NextLink(response);
        }
        return files;
    }

    // As modelscope/hub/api.py HubApi.get_model_files: GET {endpoint}/api/v1/models/{owner}/{name}/repo/files
    // ?Revision=…&Recursive=true, answering {"Code": 200, "Data": {"Files": [{"Name", "Path", "Type": "blob"|"tree",
    // "Size", "Sha256", "Revision", …}]}, "Message": …}.
    async Task<IReadOnlyList<RemoteFile>> ListModelScopeFilesAsync(RepoName repo, string revision, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, $"api/v1/models/{repo}/repo/files?Revision={Uri.EscapeDataString(revision)}&Recursive=true");
        using var response = await SendAsync(request, ct);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct));
        if (body?["Code"]?.GetValue<int>() is not 200 || body["Data"]?["Files"] is not JsonArray entries)
            throw new HubClientException(response.StatusCode, $"{request.RequestUri}: not a ModelScope file listing ({body?["Message"] ?? "no Code 200 and Data.Files"})");
        return [.. entries.OfType<JsonObject>()
            .Where(e => e["Type"]?.GetValue<string>() != "tree")
            .Select(e => new RemoteFile(e["Path"]!.GetValue<string>(), e["Size"]!.GetValue<long>(),
                e["Sha256"]?.GetValue<string>() is { Length: > 0 } sha ? sha : null))];
    }

    static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values))
            return null;
        foreach (var part in string.Join(',', values).Split(','))
        {
            var pieces = part.Split(';', StringSplitOptions.TrimEntries);
            if (pieces.Length == 2 && pieces[1] == "rel=\"next\"")
                return pieces[0].Trim('<', '>');
        }
        return null;
    }

    /// <summary>
    /// The files a pull selector names: all files without one, the file with that exact path, or else the
    /// GGUF files whose name contains it as a quantization tag (<c>Q8_0</c> matches <c>model-Q8_0.gguf</c>).
    /// </summary>
    public static IReadOnlyList<RemoteFile> Select(IReadOnlyList<RemoteFile> files, string? selector)
    {
        if (string.IsNullOrEmpty(selector))
            return files;
        if (files.FirstOrDefault(f => f.Path == selector) is { } exact)
            return [exact];
        var quantized = files.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
            && Path.GetFileNameWithoutExtension(f.Path).Contains(selector, StringComparison.OrdinalIgnoreCase)).ToList();
        return quantized.Count > 0
            ? quantized
            : throw new ArgumentException($"No file '{selector}' and no GGUF file tagged '{selector}' in this revision");
    }

    /// <summary>
    /// Downloads <paramref name="file"/> to <paramref name="destination"/>, resumably, in chunks when large (over
    /// several connections when they pay off), checked against the hub's SHA-256 (see <see cref="FileDownload"/>).
    /// </summary>
    public Task DownloadFileAsync(RepoName repo, string revision, RemoteFile file, string destination,
        IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        // ModelScope: modelscope/hub/file_download.py get_file_download_url,
        // {endpoint}/api/v1/models/{model_id}/repo?Revision={revision}&FilePath={file_path}, fetched in ranges.
        var url = api == HubApi.ModelScope
            ? $"api/v1/models/{repo}/repo?Revision={Uri.EscapeDataString(revision)}&FilePath={Uri.EscapeDataString(file.Path)}"
            : $"{repo}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Path.Split('/').Select(Uri.EscapeDataString))}";
        return FileDownload.DownloadAsync(async (from, to, token) =>
        {
            using var request = Request(HttpMethod.Get, url);
            if (from > 0 || to < file.Size)
                request.Headers.Range = new RangeHeaderValue(from, to - 1);
            return await SendAsync(request, token, HttpCompletionOption.ResponseHeadersRead);
        }, file, destination, progress, Connections, ct);
    }

    /// <summary>Reports bytes read through a stream (for upload progress).</summary>
    sealed class ProgressStream(Stream inner, Action<long> report) : Stream
    {
        long _done;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _done; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Counted(await inner.ReadAsync(buffer, ct));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }

        int Counted(int read)
        {
            _done += read;
            report(_done);
            return read;
        }
    }
}

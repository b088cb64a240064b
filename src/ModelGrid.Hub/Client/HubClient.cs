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

/// <summary>
/// Client for any hub that speaks the Hugging Face Hub protocol (a ModelGrid hub or the Hugging Face Hub itself):
/// pushes a directory through preupload, LFS batch and an NDJSON commit; pulls files with resume and SHA-256 checks.
/// </summary>
public sealed class HubClient(HttpClient http, string? token)
{
    const int HashBufferSize = 1 << 20;

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
            using var put = new HttpRequestMessage(HttpMethod.Put, href) { Content = new StreamContent(content, HashBufferSize) };
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

    /// <summary>Every file of <paramref name="revision"/>, with its SHA-256 where the hub stores it as LFS.</summary>
    public async Task<IReadOnlyList<RemoteFile>> ListFilesAsync(RepoName repo, string revision, CancellationToken ct)
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
    /// Downloads <paramref name="file"/> to <paramref name="destination"/>. An interrupted download leaves
    /// <c>destination.part</c>, which the next call resumes with an HTTP range; the finished file is checked
    /// against the hub's SHA-256 before it is moved into place.
    /// </summary>
    public async Task DownloadFileAsync(RepoName repo, string revision, RemoteFile file, string destination,
        IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        var partial = destination + ".part";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var output = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.Asynchronous))
        {
            if (output.Length > file.Size)
                output.SetLength(0);
            var buffer = new byte[HashBufferSize];
            int read;
            while ((read = await output.ReadAsync(buffer, ct)) > 0)
                hash.AppendData(buffer, 0, read);
            var offset = output.Length;
            if (offset < file.Size)
            {
                var path = string.Join('/', file.Path.Split('/').Select(Uri.EscapeDataString));
                using var request = Request(HttpMethod.Get, $"{repo}/resolve/{Uri.EscapeDataString(revision)}/{path}");
                if (offset > 0)
                    request.Headers.Range = new RangeHeaderValue(offset, null);
                using var response = await SendAsync(request, ct, HttpCompletionOption.ResponseHeadersRead);
                if (offset > 0 && response.StatusCode != HttpStatusCode.PartialContent)
                {
                    // The server ignored the range: start over.
                    (offset, _) = (0, hash.GetHashAndReset());
                    output.SetLength(0);
                }
                await using var body = await response.Content.ReadAsStreamAsync(ct);
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), ct);
                    offset += read;
                    progress?.Report(new TransferProgress(file.Path, offset, file.Size));
                }
            }
            if (offset != file.Size)
                throw new IOException($"{file.Path}: received {offset} of {file.Size} bytes; run the pull again to resume");
        }
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (file.Sha256 is not null && actual != file.Sha256)
        {
            File.Delete(partial);
            throw new IOException($"{file.Path}: SHA-256 {actual} does not match the hub's {file.Sha256}; the partial file was removed");
        }
        File.Move(partial, destination, overwrite: true);
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

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Hub.Metadata;

namespace ModelGrid.Hub.Api;

/// <summary>The JSON shapes of the Hugging Face Hub API, built from hub records.</summary>
public static class HubJson
{
    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    /// <summary>The fields <c>GET /api/models</c> returns for each match.</summary>
    public static JsonObject ModelSummary(RepoRecord repo)
    {
        var m = repo.Metadata;
        return new JsonObject
        {
            ["_id"] = repo.Id.ToString("x24", CultureInfo.InvariantCulture),
            ["id"] = repo.Name.ToString(),
            ["modelId"] = repo.Name.ToString(),
            ["author"] = repo.Name.Namespace,
            ["sha"] = repo.MainCommitId,
            ["private"] = repo.Private,
            ["gated"] = false,
            ["disabled"] = false,
            ["downloads"] = repo.Downloads,
            ["likes"] = repo.Likes,
            ["tags"] = new JsonArray([.. m.Tags.Select(t => (JsonNode)t)]),
            ["pipeline_tag"] = m.PipelineTag,
            ["library_name"] = m.LibraryName,
            ["createdAt"] = Time(repo.CreatedAt),
            ["lastModified"] = Time(repo.LastModified),
        };
    }

    /// <summary>The full model info of <c>GET /api/models/{repo}[/revision/{rev}]</c>.</summary>
    public static JsonObject ModelInfo(RepoRecord repo, CommitRecord commit, IReadOnlyList<FileEntry> files, bool withBlobs)
    {
        var m = repo.Metadata;
        var info = ModelSummary(repo);
        info["sha"] = commit.Id;
        info["lastModified"] = Time(commit.Time);
        info["cardData"] = m.CardDataJson is null ? null : JsonNode.Parse(m.CardDataJson);
        info["config"] = m.Architecture is null && m.ModelType is null ? null : new JsonObject
        {
            ["architectures"] = m.Architecture is null ? null : new JsonArray(m.Architecture),
            ["model_type"] = m.ModelType,
        };
        if (m.TensorTypes.Count > 0)
            info["safetensors"] = ParameterCounts(m.TensorTypes);
        if (m.Gguf is { } gguf)
        {
            // The Hub's gguf field, plus the per-type counts in the shape of the safetensors field.
            var ggufInfo = ParameterCounts(gguf.TensorTypes);
            ggufInfo["architecture"] = gguf.Architecture;
            ggufInfo["context_length"] = gguf.ContextLength;
            info["gguf"] = ggufInfo;
        }
        info["base_models"] = new JsonArray([.. m.BaseModels.Select(b => (JsonNode)new JsonObject { ["id"] = b.BaseModel, ["relation"] = b.Relation })]);
        info["spaces"] = new JsonArray();
        info["siblings"] = new JsonArray([.. files.Select(f => (JsonNode)Sibling(f, withBlobs))]);
        info["usedStorage"] = files.Sum(f => f.Size);
        return info;
    }

    static JsonObject ParameterCounts(IReadOnlyDictionary<string, long> perType) => new()
    {
        ["parameters"] = new JsonObject(perType.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value))),
        ["total"] = perType.Values.Sum(),
    };

    static JsonObject Sibling(FileEntry file, bool withBlobs)
    {
        var sibling = new JsonObject { ["rfilename"] = file.Path };
        if (withBlobs)
        {
            sibling["blobId"] = GitBlobId(file);
            sibling["size"] = file.Size;
            sibling["lfs"] = Lfs(file);
        }
        return sibling;
    }

    public static JsonObject TreeFile(FileEntry file) => new()
    {
        ["type"] = "file",
        ["oid"] = GitBlobId(file),
        ["size"] = file.Size,
        ["path"] = file.Path,
        ["lfs"] = Lfs(file),
    };

    public static JsonObject TreeDirectory(string path, IEnumerable<FileEntry> contents) => new()
    {
        ["type"] = "directory",
        ["oid"] = Sha1Hex(string.Join('\n', contents.Select(f => $"{f.Path} {f.Sha256}"))),
        ["size"] = 0,
        ["path"] = path,
    };

    public static JsonObject Commit(CommitRecord commit) => new()
    {
        ["id"] = commit.Id,
        ["title"] = commit.Title,
        ["message"] = commit.Message,
        ["authors"] = new JsonArray(new JsonObject { ["user"] = commit.Author }),
        ["date"] = Time(commit.Time),
        ["parents"] = commit.ParentId is null ? new JsonArray() : new JsonArray(commit.ParentId),
    };

    static JsonObject Lfs(FileEntry file) => new()
    {
        ["oid"] = file.Sha256,
        ["size"] = file.Size,
        ["pointerSize"] = Encoding.UTF8.GetByteCount(LfsPointer(file)),
    };

    // Every file is served as Git LFS would store it; the Hub's blob id for such a file is the git object id
    // of its LFS pointer, which clients only compare, never recompute.
    static string LfsPointer(FileEntry file) =>
        $"version https://git-lfs.github.com/spec/v1\noid sha256:{file.Sha256}\nsize {file.Size}\n";

    static string GitBlobId(FileEntry file)
    {
        var pointer = LfsPointer(file);
        return Sha1Hex($"blob {Encoding.UTF8.GetByteCount(pointer)}\0{pointer}");
    }

    static string Sha1Hex(string text) => Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(text)));
}

using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using ModelGrid.Hub.Access;
using ModelGrid.Hub.Api;
using ModelGrid.Hub.Cards;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Storage;

namespace ModelGrid.Hub.Repos;

/// <summary>A file a commit adds or replaces; its content must already be in the blob store.</summary>
public sealed record FileChange(string Path, string Sha256, long Size);

public sealed record CommitRequest(
    string Branch,
    string Title,
    string? Description,
    string? ParentCommit,
    IReadOnlyList<FileChange> Upserts,
    IReadOnlyList<string> DeletedFiles,
    IReadOnlyList<string> DeletedFolders);

/// <summary>A revision resolved to its commit.</summary>
public sealed record ResolvedRevision(string Revision, CommitRecord Commit);

/// <summary>Repository operations over the metadata store and blob store: resolution, commits, refs.</summary>
public sealed partial class RepoService(IHubStore store, BlobStore blobs, TimeProvider clock)
{
    public const string DefaultBranch = "main";

    [GeneratedRegex(@"^(?!.*\.\.)(?!.*//)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")]
    private static partial Regex RefNamePattern();

    public IHubStore Store => store;
    public BlobStore Blobs => blobs;

    /// <summary>The repository if it exists and the caller may read it; private repos are a 404, never a 403.</summary>
    public async Task<RepoRecord> GetReadableAsync(RepoName name, Caller caller, CancellationToken ct)
    {
        var repo = await store.FindRepoAsync(name, ct);
        return repo is not null && caller.CanRead(repo) ? repo : throw HubException.RepoNotFound(name.ToString());
    }

    public async Task<RepoRecord> CreateAsync(RepoName name, bool isPrivate, Caller caller, CancellationToken ct)
    {
        caller.RequireWrite(name);
        var initial = NewCommit(null, "initial commit", "", caller.RequireUser(), []);
        if (!await store.TryCreateRepoAsync(name, isPrivate, DefaultBranch, initial, ct))
            throw HubException.Conflict($"Repository {name} already exists");
        return (await store.FindRepoAsync(name, ct))!;
    }

    public async Task<ResolvedRevision> ResolveAsync(RepoRecord repo, string revision, CancellationToken ct)
    {
        var wanted = revision is "HEAD" or "" ? DefaultBranch : revision;
        var refs = await store.ListRefsAsync(repo.Id, ct);
        var commitId = refs.FirstOrDefault(r => r.Kind == RefKind.Branch && r.Name == wanted)?.CommitId
            ?? refs.FirstOrDefault(r => r.Kind == RefKind.Tag && r.Name == wanted)?.CommitId
            ?? wanted;
        var commit = await store.FindCommitAsync(repo.Id, commitId, ct)
            ?? throw HubException.RevisionNotFound(repo.Name.ToString(), revision);
        return new ResolvedRevision(wanted, commit);
    }

    /// <summary>
    /// Applies <paramref name="request"/> on top of its branch head. If the branch moved since the caller's
    /// <c>ParentCommit</c>, or another commit lands between our read and our write, the answer is 409 and
    /// nothing is written; the uploaded blobs stay in the store, so a retry uploads nothing again.
    /// </summary>
    public async Task<CommitRecord> CommitAsync(RepoRecord repo, Caller caller, CommitRequest request, CancellationToken ct)
    {
        caller.RequireWrite(repo.Name);
        var author = caller.RequireUser();
        var refs = await store.ListRefsAsync(repo.Id, ct);
        var head = refs.FirstOrDefault(r => r.Kind == RefKind.Branch && r.Name == request.Branch)?.CommitId
            ?? throw HubException.RevisionNotFound(repo.Name.ToString(), request.Branch);
        if (request.ParentCommit is not null && request.ParentCommit != head)
            throw HubException.Conflict($"Branch '{request.Branch}' is at {head}, not at the given parent commit {request.ParentCommit}");
        if (string.IsNullOrWhiteSpace(request.Title))
            throw HubException.BadRequest("Commit summary (title) is empty");

        var manifest = (await store.ListFilesAsync(repo.Id, head, ct)).ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var folder in request.DeletedFolders.Select(RepoPath.Validate))
        {
            var removed = manifest.Keys.Where(p => p.StartsWith(folder.TrimEnd('/') + "/", StringComparison.Ordinal)).ToList();
            if (removed.Count == 0)
                throw HubException.BadRequest($"Cannot delete folder '{folder}': no such folder at {request.Branch}");
            removed.ForEach(p => manifest.Remove(p));
        }
        foreach (var path in request.DeletedFiles.Select(RepoPath.Validate))
        {
            if (!manifest.Remove(path))
                throw HubException.BadRequest($"Cannot delete '{path}': no such file at {request.Branch}");
        }
        foreach (var change in request.Upserts)
        {
            var path = RepoPath.Validate(change.Path);
            var blob = BlobStore.IsSha256(change.Sha256) ? blobs.Find(change.Sha256) : null;
            if (blob is null)
                throw HubException.BadRequest($"File '{path}': object sha256:{change.Sha256} was never uploaded; upload it before committing");
            if (blob.Value.Size != change.Size)
                throw HubException.BadRequest($"File '{path}': declared size {change.Size} but object sha256:{change.Sha256} has {blob.Value.Size} bytes");
            manifest[path] = new FileEntry(path, change.Sha256, change.Size);
        }
        var files = manifest.Values.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        foreach (var file in files)
        {
            if (manifest.Keys.Any(other => other.StartsWith(file.Path + "/", StringComparison.Ordinal)))
                throw HubException.BadRequest($"'{file.Path}' cannot be both a file and a folder");
        }

        var metadata = request.Branch == DefaultBranch ? await ModelMetadataReader.ReadAsync(files, blobs, ct) : null;
        var commit = NewCommit(head, request.Title.Trim(), request.Description ?? "", author, files);
        if (!await store.TryCommitAsync(repo.Id, request.Branch, head, commit, files, metadata, ct))
            throw HubException.Conflict($"Branch '{request.Branch}' moved while committing; fetch the new head and retry");
        return commit;
    }

    public async Task<RefRecord> CreateRefAsync(RepoRecord repo, Caller caller, RefKind kind, string name, string fromRevision, CancellationToken ct)
    {
        caller.RequireWrite(repo.Name);
        if (!RefNamePattern().IsMatch(name) || name == "HEAD" || (name.Length == 40 && name.All(char.IsAsciiHexDigitLower)))
            throw HubException.BadRequest($"Invalid {kind.ToString().ToLowerInvariant()} name '{name}'");
        var target = await ResolveAsync(repo, fromRevision, ct);
        var reference = new RefRecord(kind, name, target.Commit.Id);
        if (!await store.TryCreateRefAsync(repo.Id, reference, ct))
            throw HubException.Conflict($"{kind} '{name}' already exists in {repo.Name}");
        return reference;
    }

    // Ids are 40 hex digits like git's, so clients that validate commit hashes accept them; the hash covers
    // the parent, author, time, message and the whole file manifest.
    CommitRecord NewCommit(string? parent, string title, string description, string author, IReadOnlyList<FileEntry> files)
    {
        var time = clock.GetUtcNow();
        var text = new StringBuilder()
            .Append($"parent {parent}\nauthor {author}\ntime {time.ToUnixTimeMilliseconds()}\n\n{title}\n{description}\n");
        foreach (var file in files)
            text.Append(file.Path).Append('\0').Append(file.Sha256).Append('\0').Append(file.Size).Append('\n');
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..40];
        return new CommitRecord(id, parent, title, description, author, time);
    }
}

using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Metadata;

/// <summary>
/// The hub's metadata: repositories, commits, refs, file manifests, lineage, counters and tokens.
/// Kept behind this interface so a server database (PostgreSQL) can replace the embedded SQLite one.
/// </summary>
public interface IHubStore : IDisposable
{
    Task InitializeAsync(CancellationToken ct);

    Task<RepoRecord?> FindRepoAsync(RepoName name, CancellationToken ct);

    /// <summary>Creates the repository with its first commit on <paramref name="defaultBranch"/>; false if the name is taken.</summary>
    Task<bool> TryCreateRepoAsync(RepoName name, bool isPrivate, string defaultBranch, CommitRecord initialCommit, CancellationToken ct);

    Task<IReadOnlyList<RefRecord>> ListRefsAsync(long repoId, CancellationToken ct);

    Task<CommitRecord?> FindCommitAsync(long repoId, string commitId, CancellationToken ct);

    /// <summary>Commits reachable from <paramref name="commitId"/> through parents, newest first.</summary>
    Task<IReadOnlyList<CommitRecord>> ListHistoryAsync(long repoId, string commitId, int limit, CancellationToken ct);

    Task<IReadOnlyList<FileEntry>> ListFilesAsync(long repoId, string commitId, CancellationToken ct);

    Task<FileEntry?> FindFileAsync(long repoId, string commitId, string path, CancellationToken ct);

    /// <summary>
    /// Records <paramref name="commit"/> and moves <paramref name="branch"/> to it only if the branch still points at
    /// <paramref name="expectedHead"/> (compare-and-swap); false when another commit got there first, and then nothing
    /// is written. With <paramref name="metadata"/> the repository's searchable metadata is replaced in the same transaction.
    /// </summary>
    Task<bool> TryCommitAsync(long repoId, string branch, string expectedHead, CommitRecord commit,
        IReadOnlyList<FileEntry> files, ModelMetadata? metadata, CancellationToken ct);

    /// <summary>Creates a branch or tag; false if one of that kind and name exists.</summary>
    Task<bool> TryCreateRefAsync(long repoId, RefRecord reference, CancellationToken ct);

    Task<IReadOnlyList<RepoRecord>> SearchAsync(ModelQuery query, CancellationToken ct);

    /// <summary>Everything <paramref name="model"/> derives from, transitively, nearest first.</summary>
    Task<IReadOnlyList<LineageEdge>> AncestorsAsync(string model, LineagePage page, CancellationToken ct);

    /// <summary>Everything derived from <paramref name="model"/>, transitively, nearest first (private repos omitted unless visible).</summary>
    Task<IReadOnlyList<LineageEdge>> DescendantsAsync(string model, LineagePage page, IReadOnlyCollection<string> visibleNamespaces, CancellationToken ct);

    Task AddDownloadAsync(long repoId, CancellationToken ct);

    /// <summary>Sets whether <paramref name="user"/> likes the repo; returns the new like count.</summary>
    Task<long> SetLikeAsync(long repoId, string user, bool liked, CancellationToken ct);

    Task AddTokenAsync(TokenRecord token, CancellationToken ct);

    Task<TokenRecord?> FindTokenAsync(string tokenSha256, CancellationToken ct);
}

using System.Text.Json;
using Microsoft.Data.Sqlite;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Metadata;

/// <summary>The embedded metadata store: one SQLite file in WAL mode, no set-up.</summary>
public sealed class SqliteHubStore(string databasePath) : IHubStore
{
    const int SchemaVersion = 2;
    readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = databasePath,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    const string Schema = """
        CREATE TABLE IF NOT EXISTS repos (
            id INTEGER PRIMARY KEY,
            namespace TEXT NOT NULL COLLATE NOCASE,
            name TEXT NOT NULL COLLATE NOCASE,
            full_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            private INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            last_modified INTEGER NOT NULL,
            downloads INTEGER NOT NULL DEFAULT 0,
            likes INTEGER NOT NULL DEFAULT 0,
            license TEXT, pipeline_tag TEXT, library_name TEXT, architecture TEXT, model_type TEXT,
            num_parameters INTEGER, tensor_types TEXT, tags TEXT, card_data TEXT, gguf TEXT);
        CREATE INDEX IF NOT EXISTS repos_namespace ON repos(namespace);
        CREATE INDEX IF NOT EXISTS repos_downloads_id ON repos(downloads DESC, id DESC);
        CREATE INDEX IF NOT EXISTS repos_likes_id ON repos(likes DESC, id DESC);
        CREATE INDEX IF NOT EXISTS repos_last_modified_id ON repos(last_modified DESC, id DESC);
        CREATE VIRTUAL TABLE IF NOT EXISTS repos_fts USING fts5(full_name, content='repos', content_rowid='id', tokenize='trigram');
        CREATE TRIGGER IF NOT EXISTS repos_fts_insert AFTER INSERT ON repos BEGIN
            INSERT INTO repos_fts (rowid, full_name) VALUES (new.id, new.full_name);
        END;
        CREATE TABLE IF NOT EXISTS commits (
            repo_id INTEGER NOT NULL REFERENCES repos(id),
            id TEXT NOT NULL, parent_id TEXT, title TEXT NOT NULL, message TEXT NOT NULL,
            author TEXT NOT NULL, time INTEGER NOT NULL,
            PRIMARY KEY (repo_id, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS refs (
            repo_id INTEGER NOT NULL REFERENCES repos(id),
            kind INTEGER NOT NULL, name TEXT NOT NULL, commit_id TEXT NOT NULL,
            PRIMARY KEY (repo_id, kind, name)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS files (
            repo_id INTEGER NOT NULL, commit_id TEXT NOT NULL, path TEXT NOT NULL,
            sha256 TEXT NOT NULL, size INTEGER NOT NULL,
            PRIMARY KEY (repo_id, commit_id, path)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS repo_tags (
            repo_id INTEGER NOT NULL, tag TEXT NOT NULL COLLATE NOCASE,
            PRIMARY KEY (tag, repo_id)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS repo_tags_repo ON repo_tags(repo_id);
        CREATE TABLE IF NOT EXISTS repo_bases (
            repo_id INTEGER NOT NULL, base_name TEXT NOT NULL COLLATE NOCASE, relation TEXT NOT NULL,
            PRIMARY KEY (repo_id, base_name));
        CREATE INDEX IF NOT EXISTS repo_bases_base ON repo_bases(base_name);
        CREATE TABLE IF NOT EXISTS likes (
            repo_id INTEGER NOT NULL, user TEXT NOT NULL, PRIMARY KEY (repo_id, user)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS tokens (
            sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, namespaces TEXT NOT NULL, created_at INTEGER NOT NULL);
        """;

    const string RepoColumns = """
        r.id, r.namespace, r.name, r.private, r.created_at, r.last_modified, r.downloads, r.likes,
        r.license, r.pipeline_tag, r.library_name, r.architecture, r.model_type, r.num_parameters,
        r.tensor_types, r.tags, r.card_data,
        (SELECT commit_id FROM refs WHERE repo_id = r.id AND kind = 0 AND name = 'main'), r.gguf
        """;

    // Version 1 had sort indexes without the id tie-break (so a sort on a column with many ties, as downloads = 0,
    // read and sorted every tie), no trigram index of names and no GGUF header summary.
    const string MigrateFromVersion1 = """
        ALTER TABLE repos ADD COLUMN gguf TEXT;
        DROP INDEX IF EXISTS repos_downloads;
        DROP INDEX IF EXISTS repos_likes;
        DROP INDEX IF EXISTS repos_last_modified;
        INSERT INTO repos_fts (repos_fts) VALUES ('rebuild');
        """;

    public async Task InitializeAsync(CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, null, "PRAGMA journal_mode = WAL", ct);
        await using var tx = BeginWrite(db);
        var version = await ScalarAsync(db, tx, "PRAGMA user_version", ct);
        await ExecuteAsync(db, tx, Schema, ct);
        // Version 0 is a database just created by Schema.
        if (version == 1)
            await ExecuteAsync(db, tx, MigrateFromVersion1, ct);
        if (version < SchemaVersion)
            await ExecuteAsync(db, tx, $"PRAGMA user_version = {SchemaVersion}", ct);
        await tx.CommitAsync(ct);
    }

    // Queries touch rows all over a large file (a popular base's 6,000 children are 6,000 random repos rows); through
    // SQLite's own 2 MB page cache that was 65 ms, reading from the OS page cache by memory map 13 ms.
    const long MemoryMapBytes = 1L << 30;

    async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var db = new SqliteConnection(_connectionString);
        await db.OpenAsync(ct);
        await ExecuteAsync(db, null, $"PRAGMA mmap_size = {MemoryMapBytes}", ct);
        return db;
    }

    static SqliteCommand Command(SqliteConnection db, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    static async Task<int> ExecuteAsync(SqliteConnection db, SqliteTransaction? tx, string sql, CancellationToken ct, params (string, object?)[] args)
    {
        await using var cmd = Command(db, tx, sql, args);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    static async Task<List<T>> QueryAsync<T>(SqliteConnection db, string sql, Func<SqliteDataReader, T> map, CancellationToken ct, params (string, object?)[] args)
    {
        await using var cmd = Command(db, null, sql, args);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<T>();
        while (await reader.ReadAsync(ct))
            rows.Add(map(reader));
        return rows;
    }

    // BEGIN IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking on upgrade.
    static SqliteTransaction BeginWrite(SqliteConnection db) => db.BeginTransaction(deferred: false);

    static long Unix(DateTimeOffset time) => time.ToUnixTimeMilliseconds();
    static DateTimeOffset FromUnix(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
    static string? NullableString(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    static RepoRecord ReadRepo(SqliteDataReader r) => new(
        r.GetInt64(0),
        new RepoName(r.GetString(1), r.GetString(2)),
        r.GetInt64(3) != 0,
        FromUnix(r.GetInt64(4)),
        FromUnix(r.GetInt64(5)),
        NullableString(r, 17),
        r.GetInt64(6),
        r.GetInt64(7),
        new ModelMetadata
        {
            License = NullableString(r, 8),
            PipelineTag = NullableString(r, 9),
            LibraryName = NullableString(r, 10),
            Architecture = NullableString(r, 11),
            ModelType = NullableString(r, 12),
            ParameterCount = r.IsDBNull(13) ? null : r.GetInt64(13),
            TensorTypes = MetadataJson.TensorTypes(NullableString(r, 14)),
            Tags = JsonSerializer.Deserialize<List<string>>(NullableString(r, 15) ?? "[]")!,
            CardDataJson = NullableString(r, 16),
            Gguf = MetadataJson.Gguf(NullableString(r, 18)),
        });

    static LineageEdge ReadEdge(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3));

    static CommitRecord ReadCommit(SqliteDataReader r) =>
        new(r.GetString(0), NullableString(r, 1), r.GetString(2), r.GetString(3), r.GetString(4), FromUnix(r.GetInt64(5)));

    public async Task<RepoRecord?> FindRepoAsync(RepoName name, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        var rows = await QueryAsync(db, $"SELECT {RepoColumns} FROM repos r WHERE r.full_name = $name", ReadRepo, ct, ("$name", name.ToString()));
        if (rows.Count == 0)
            return null;
        var bases = await QueryAsync(db, "SELECT base_name, relation FROM repo_bases WHERE repo_id = $id ORDER BY base_name",
            r => new BaseModelLink(r.GetString(0), r.GetString(1)), ct, ("$id", rows[0].Id));
        return rows[0] with { Metadata = rows[0].Metadata with { BaseModels = bases } };
    }

    public async Task<bool> TryCreateRepoAsync(RepoName name, bool isPrivate, string defaultBranch, CommitRecord initialCommit, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var tx = BeginWrite(db);
        var inserted = await ExecuteAsync(db, tx, """
            INSERT INTO repos (namespace, name, full_name, private, created_at, last_modified)
            VALUES ($ns, $name, $full, $private, $time, $time) ON CONFLICT (full_name) DO NOTHING
            """, ct, ("$ns", name.Namespace), ("$name", name.Name), ("$full", name.ToString()),
            ("$private", isPrivate ? 1 : 0), ("$time", Unix(initialCommit.Time)));
        if (inserted == 0)
            return false;
        var repoId = await ScalarAsync(db, tx, "SELECT last_insert_rowid()", ct);
        await InsertCommitAsync(db, tx, repoId, initialCommit, ct);
        await ExecuteAsync(db, tx, "INSERT INTO refs (repo_id, kind, name, commit_id) VALUES ($repo, 0, $name, $commit)", ct,
            ("$repo", repoId), ("$name", defaultBranch), ("$commit", initialCommit.Id));
        await tx.CommitAsync(ct);
        return true;
    }

    static async Task<long> ScalarAsync(SqliteConnection db, SqliteTransaction? tx, string sql, CancellationToken ct, params (string, object?)[] args)
    {
        await using var cmd = Command(db, tx, sql, args);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct));
    }

    static Task InsertCommitAsync(SqliteConnection db, SqliteTransaction tx, long repoId, CommitRecord c, CancellationToken ct) =>
        ExecuteAsync(db, tx, """
            INSERT INTO commits (repo_id, id, parent_id, title, message, author, time)
            VALUES ($repo, $id, $parent, $title, $message, $author, $time) ON CONFLICT DO NOTHING
            """, ct, ("$repo", repoId), ("$id", c.Id), ("$parent", c.ParentId), ("$title", c.Title),
            ("$message", c.Message), ("$author", c.Author), ("$time", Unix(c.Time)));

    public async Task<IReadOnlyList<RefRecord>> ListRefsAsync(long repoId, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        return await QueryAsync(db, "SELECT kind, name, commit_id FROM refs WHERE repo_id = $repo ORDER BY kind, name",
            r => new RefRecord((RefKind)r.GetInt64(0), r.GetString(1), r.GetString(2)), ct, ("$repo", repoId));
    }

    public async Task<CommitRecord?> FindCommitAsync(long repoId, string commitId, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        var rows = await QueryAsync(db, "SELECT id, parent_id, title, message, author, time FROM commits WHERE repo_id = $repo AND id = $id",
            ReadCommit, ct, ("$repo", repoId), ("$id", commitId));
        return rows.FirstOrDefault();
    }

    public async Task<IReadOnlyList<CommitRecord>> ListHistoryAsync(long repoId, string commitId, int limit, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        return await QueryAsync(db, """
            WITH RECURSIVE history(id, n) AS (
                SELECT $id, 0
                UNION ALL
                SELECT c.parent_id, h.n + 1 FROM history h JOIN commits c ON c.repo_id = $repo AND c.id = h.id
                WHERE c.parent_id IS NOT NULL AND h.n + 1 < $limit)
            SELECT c.id, c.parent_id, c.title, c.message, c.author, c.time
            FROM history h JOIN commits c ON c.repo_id = $repo AND c.id = h.id ORDER BY h.n
            """, ReadCommit, ct, ("$repo", repoId), ("$id", commitId), ("$limit", limit));
    }

    public async Task<IReadOnlyList<FileEntry>> ListFilesAsync(long repoId, string commitId, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        return await QueryAsync(db, "SELECT path, sha256, size FROM files WHERE repo_id = $repo AND commit_id = $commit ORDER BY path",
            r => new FileEntry(r.GetString(0), r.GetString(1), r.GetInt64(2)), ct, ("$repo", repoId), ("$commit", commitId));
    }

    public async Task<FileEntry?> FindFileAsync(long repoId, string commitId, string path, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        var rows = await QueryAsync(db, "SELECT path, sha256, size FROM files WHERE repo_id = $repo AND commit_id = $commit AND path = $path",
            r => new FileEntry(r.GetString(0), r.GetString(1), r.GetInt64(2)), ct, ("$repo", repoId), ("$commit", commitId), ("$path", path));
        return rows.FirstOrDefault();
    }

    public async Task<bool> TryCommitAsync(long repoId, string branch, string expectedHead, CommitRecord commit,
        IReadOnlyList<FileEntry> files, ModelMetadata? metadata, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var tx = BeginWrite(db);
        var moved = await ExecuteAsync(db, tx,
            "UPDATE refs SET commit_id = $new WHERE repo_id = $repo AND kind = 0 AND name = $branch AND commit_id = $expected",
            ct, ("$new", commit.Id), ("$repo", repoId), ("$branch", branch), ("$expected", expectedHead));
        if (moved == 0)
            return false;
        await InsertCommitAsync(db, tx, repoId, commit, ct);
        await using (var insert = Command(db, tx, "INSERT INTO files (repo_id, commit_id, path, sha256, size) VALUES ($repo, $commit, $path, $sha, $size) ON CONFLICT DO NOTHING"))
        {
            var path = insert.Parameters.Add("$path", SqliteType.Text);
            var sha = insert.Parameters.Add("$sha", SqliteType.Text);
            var size = insert.Parameters.Add("$size", SqliteType.Integer);
            insert.Parameters.AddWithValue("$repo", repoId);
            insert.Parameters.AddWithValue("$commit", commit.Id);
            foreach (var file in files)
            {
                (path.Value, sha.Value, size.Value) = (file.Path, file.Sha256, file.Size);
                await insert.ExecuteNonQueryAsync(ct);
            }
        }
        await ExecuteAsync(db, tx, "UPDATE repos SET last_modified = $time WHERE id = $repo", ct,
            ("$time", Unix(commit.Time)), ("$repo", repoId));
        if (metadata is not null)
            await ReplaceMetadataAsync(db, tx, repoId, metadata, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    static async Task ReplaceMetadataAsync(SqliteConnection db, SqliteTransaction tx, long repoId, ModelMetadata m, CancellationToken ct)
    {
        await ExecuteAsync(db, tx, """
            UPDATE repos SET license = $license, pipeline_tag = $pipeline, library_name = $library, architecture = $arch,
                model_type = $type, num_parameters = $params, tensor_types = $tensors, tags = $tags, card_data = $card,
                gguf = $gguf
            WHERE id = $repo
            """, ct, ("$license", m.License), ("$pipeline", m.PipelineTag), ("$library", m.LibraryName),
            ("$arch", m.Architecture), ("$type", m.ModelType), ("$params", m.ParameterCount),
            ("$tensors", MetadataJson.Serialize(m.TensorTypes)), ("$tags", JsonSerializer.Serialize(m.Tags)),
            ("$card", m.CardDataJson), ("$gguf", MetadataJson.Serialize(m.Gguf)), ("$repo", repoId));
        await ExecuteAsync(db, tx, "DELETE FROM repo_tags WHERE repo_id = $repo", ct, ("$repo", repoId));
        foreach (var tag in m.Tags.Distinct(StringComparer.OrdinalIgnoreCase))
            await ExecuteAsync(db, tx, "INSERT INTO repo_tags (repo_id, tag) VALUES ($repo, $tag)", ct, ("$repo", repoId), ("$tag", tag));
        await ExecuteAsync(db, tx, "DELETE FROM repo_bases WHERE repo_id = $repo", ct, ("$repo", repoId));
        foreach (var link in m.BaseModels.DistinctBy(b => b.BaseModel, StringComparer.OrdinalIgnoreCase))
            await ExecuteAsync(db, tx, "INSERT INTO repo_bases (repo_id, base_name, relation) VALUES ($repo, $base, $relation)", ct,
                ("$repo", repoId), ("$base", link.BaseModel), ("$relation", link.Relation));
    }

    public async Task<bool> TryCreateRefAsync(long repoId, RefRecord reference, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        return await ExecuteAsync(db, null, """
            INSERT INTO refs (repo_id, kind, name, commit_id) VALUES ($repo, $kind, $name, $commit)
            ON CONFLICT DO NOTHING
            """, ct, ("$repo", repoId), ("$kind", (int)reference.Kind), ("$name", reference.Name), ("$commit", reference.CommitId)) == 1;
    }

    /// <summary>Where a search switches between reading a criterion's rows whole, walking the sort index and intersecting.</summary>
    internal SearchPlan Plan { get; init; } = SearchPlan.Default;

    public async Task<IReadOnlyList<RepoRecord>> SearchAsync(ModelQuery query, CancellationToken ct)
    {
        var where = new List<string>();
        var args = new List<(string, object?)>();
        // Each indexed criterion, as a query of the ids it matches.
        var candidates = new List<string>();
        var visible = query.VisibleNamespaces.Select((ns, i) => $"$visible{i}").ToList();
        where.Add(visible.Count == 0 ? "r.private = 0" : $"(r.private = 0 OR r.namespace IN ({string.Join(", ", visible)}))");
        args.AddRange(query.VisibleNamespaces.Select((ns, i) => ($"$visible{i}", (object?)ns)));
        if (!string.IsNullOrEmpty(query.Search))
        {
            // LIKE decides (ASCII case folding, as NOCASE and PostgreSQL's store); the trigram index only narrows.
            where.Add(@"r.full_name LIKE $search ESCAPE '\'");
            args.Add(("$search", "%" + query.Search.Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_") + "%"));
            if (query.Search.Length >= 3 && System.Text.Ascii.IsValid(query.Search))
            {
                candidates.Add("SELECT rowid AS id FROM repos_fts WHERE repos_fts MATCH $phrase");
                args.Add(("$phrase", "\"" + query.Search.Replace("\"", "\"\"") + "\""));
            }
        }
        if (!string.IsNullOrEmpty(query.Author))
        {
            where.Add("r.namespace = $author");
            args.Add(("$author", query.Author));
            candidates.Add("SELECT id FROM repos WHERE namespace = $author");
        }
        for (var i = 0; i < query.Tags.Count; i++)
        {
            where.Add($"EXISTS (SELECT 1 FROM repo_tags t WHERE t.tag = $tag{i} AND t.repo_id = r.id)");
            args.Add(($"$tag{i}", query.Tags[i]));
            candidates.Add($"SELECT repo_id AS id FROM repo_tags WHERE tag = $tag{i}");
        }
        var column = query.Sort switch
        {
            ModelSort.Likes => "r.likes",
            ModelSort.LastModified => "r.last_modified",
            ModelSort.CreatedAt => "r.created_at",
            ModelSort.Id => "r.full_name",
            ModelSort.Parameters => "r.num_parameters",
            _ => "r.downloads",
        };
        var direction = query.Descending ? "DESC" : "ASC";
        var order = $"{column} {direction}, r.id {direction}";
        var sortIndexed = query.Sort is ModelSort.Downloads or ModelSort.Likes or ModelSort.LastModified or ModelSort.Id;
        args.Add(("$limit", query.Limit));
        args.Add(("$offset", query.Offset));
        args.Add(("$walk", Plan.WalkLimit));
        await using var db = await OpenAsync(ct);
        Task<List<RepoRecord>> PageAsync(string from) => QueryAsync(db, $"""
            SELECT {RepoColumns} FROM {from} WHERE {string.Join(" AND ", where)}
            ORDER BY {order} LIMIT $limit OFFSET $offset
            """, ReadRepo, ct, [.. args]);

        // CROSS JOIN makes SQLite read the candidates first, as written.
        if (await SmallestCandidateSetAsync(db, candidates, Plan.SmallCandidateSet, [.. args], ct) is { } smallest)
            return await PageAsync($"({smallest}) c CROSS JOIN repos r ON r.id = c.id");
        if (candidates.Count == 0 || (candidates.Count == 1 && sortIndexed))
            return await PageAsync("repos r");
        // Several large criteria: their intersection may be anything from most rows to none. The first rows of the
        // sort order usually hold a page; if not, matches are rare and intersecting the candidate sets is cheaper
        // than walking on through every row.
        if (sortIndexed)
        {
            var page = await PageAsync($"(SELECT r.id FROM repos r ORDER BY {order} LIMIT $walk) w CROSS JOIN repos r ON r.id = w.id");
            if (page.Count == query.Limit)
                return page;
        }
        return await PageAsync($"({string.Join(" INTERSECT ", candidates)}) c CROSS JOIN repos r ON r.id = c.id");
    }

    /// <summary>The candidate query with the fewest rows if it has fewer than <paramref name="small"/>, else null.</summary>
    static async Task<string?> SmallestCandidateSetAsync(SqliteConnection db, List<string> candidates, int small, (string, object?)[] args, CancellationToken ct)
    {
        string? smallest = null;
        long fewest = small;
        foreach (var candidate in candidates)
        {
            var count = await ScalarAsync(db, null, $"SELECT count(*) FROM ({candidate} LIMIT {fewest})", ct, args);
            if (count < fewest)
                (smallest, fewest) = (candidate, count);
        }
        return smallest;
    }

    public async Task<IReadOnlyList<LineageEdge>> AncestorsAsync(string model, LineagePage page, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        return await QueryAsync(db, """
            WITH RECURSIVE ancestors(model, relation, depth, via) AS (
                SELECT b.base_name, b.relation, 1, r.full_name
                FROM repos r JOIN repo_bases b ON b.repo_id = r.id WHERE r.full_name = $model
                UNION
                SELECT b.base_name, b.relation, a.depth + 1, r.full_name
                FROM ancestors a JOIN repos r ON r.full_name = a.model JOIN repo_bases b ON b.repo_id = r.id
                WHERE a.depth < $maxDepth)
            SELECT model, relation, MIN(depth), via FROM ancestors GROUP BY model ORDER BY MIN(depth), model
            LIMIT $limit OFFSET $offset
            """, ReadEdge, ct, ("$model", model), ("$maxDepth", page.MaxDepth), ("$limit", page.Limit), ("$offset", page.Offset));
    }

    public async Task<IReadOnlyList<LineageEdge>> DescendantsAsync(string model, LineagePage page, IReadOnlyCollection<string> visibleNamespaces, CancellationToken ct)
    {
        var visible = visibleNamespaces.Select((_, i) => $"$visible{i}").ToList();
        var visibility = visible.Count == 0 ? "r.private = 0" : $"(r.private = 0 OR r.namespace IN ({string.Join(", ", visible)}))";
        await using var db = await OpenAsync(ct);
        return await LineageWalk.DescendantsAsync(model, page, async frontier => await QueryAsync(db, $"""
            SELECT r.full_name, b.relation, b.base_name FROM repo_bases b JOIN repos r ON r.id = b.repo_id
            WHERE b.base_name IN (SELECT value FROM json_each($frontier)) AND {visibility}
            """, r => new ChildEdge(r.GetString(0), r.GetString(1), r.GetString(2)), ct,
            [("$frontier", JsonSerializer.Serialize(frontier)), .. visibleNamespaces.Select((ns, i) => ($"$visible{i}", (object?)ns))]));
    }

    public async Task AddDownloadAsync(long repoId, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, null, "UPDATE repos SET downloads = downloads + 1 WHERE id = $repo", ct, ("$repo", repoId));
    }

    public async Task<long> SetLikeAsync(long repoId, string user, bool liked, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var tx = BeginWrite(db);
        await ExecuteAsync(db, tx, liked
            ? "INSERT INTO likes (repo_id, user) VALUES ($repo, $user) ON CONFLICT DO NOTHING"
            : "DELETE FROM likes WHERE repo_id = $repo AND user = $user", ct, ("$repo", repoId), ("$user", user));
        await ExecuteAsync(db, tx, "UPDATE repos SET likes = (SELECT COUNT(*) FROM likes WHERE repo_id = $repo) WHERE id = $repo", ct, ("$repo", repoId));
        var count = await ScalarAsync(db, tx, "SELECT likes FROM repos WHERE id = $repo", ct, ("$repo", repoId));
        await tx.CommitAsync(ct);
        return count;
    }

    public async Task AddTokenAsync(TokenRecord token, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, null, "INSERT INTO tokens (sha256, user, namespaces, created_at) VALUES ($sha, $user, $ns, $time)", ct,
            ("$sha", token.TokenSha256), ("$user", token.User), ("$ns", JsonSerializer.Serialize(token.Namespaces)), ("$time", Unix(token.CreatedAt)));
    }

    public async Task<TokenRecord?> FindTokenAsync(string tokenSha256, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        var rows = await QueryAsync(db, "SELECT sha256, user, namespaces, created_at FROM tokens WHERE sha256 = $sha",
            r => new TokenRecord(r.GetString(0), r.GetString(1), JsonSerializer.Deserialize<List<string>>(r.GetString(2))!, FromUnix(r.GetInt64(3))),
            ct, ("$sha", tokenSha256));
        return rows.FirstOrDefault();
    }

    public void Dispose() => SqliteConnection.ClearAllPools();
}

using Npgsql;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Metadata;

/// <summary>
/// The metadata store for multi-node deployments: several hub processes share one PostgreSQL database.
/// Same semantics as <see cref="SqliteHubStore"/>: names, namespaces, tags and base models compare
/// case-insensitively (ASCII, as SQLite's NOCASE), and a branch moves by compare-and-swap.
/// </summary>
public sealed class PostgresHubStore : IHubStore
{
    // Arbitrary, fixed: serializes schema creation when several hub nodes start at once.
    const long SchemaLockKey = 0x4d6f64656c477264;
    readonly NpgsqlDataSource _dataSource;

    /// <param name="connectionString">An Npgsql connection string, e.g. <c>Host=db;Database=hub;Username=hub;Password=…</c>.</param>
    public PostgresHubStore(string connectionString)
    {
        try
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            // The row estimates of a recursive CTE are huge, so lineage queries crossed the JIT threshold and spent
            // hundreds of milliseconds compiling; every query here is short, so JIT never pays.
            builder.UsePhysicalConnectionInitializer(
                db => { using var off = new NpgsqlCommand("SET jit = off", db); off.ExecuteNonQuery(); },
                async db => { await using var off = new NpgsqlCommand("SET jit = off", db); await off.ExecuteNonQueryAsync(); });
            _dataSource = builder.Build();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Invalid PostgreSQL connection string: {e.Message}", nameof(connectionString), e);
        }
    }

    // Case-insensitive identity lives in expression indexes over lower(...), so the stored names keep the case
    // they were created with. repo_tags holds tags already lower-cased: it exists only to be searched.
    const string Schema = """
        CREATE TABLE IF NOT EXISTS repos (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            namespace text NOT NULL,
            name text NOT NULL,
            full_name text NOT NULL,
            private boolean NOT NULL,
            created_at timestamptz NOT NULL,
            last_modified timestamptz NOT NULL,
            downloads bigint NOT NULL DEFAULT 0,
            likes bigint NOT NULL DEFAULT 0,
            license text, pipeline_tag text, library_name text, architecture text, model_type text,
            num_parameters bigint,
            tensor_types jsonb NOT NULL DEFAULT '{}',
            tags text[] NOT NULL DEFAULT '{}',
            card_data json);
        ALTER TABLE repos ADD COLUMN IF NOT EXISTS gguf json;
        CREATE UNIQUE INDEX IF NOT EXISTS repos_full_name ON repos (lower(full_name));
        CREATE INDEX IF NOT EXISTS repos_namespace ON repos (lower(namespace));
        CREATE INDEX IF NOT EXISTS repos_downloads ON repos (downloads DESC, id DESC);
        CREATE INDEX IF NOT EXISTS repos_likes ON repos (likes DESC, id DESC);
        CREATE INDEX IF NOT EXISTS repos_last_modified ON repos (last_modified DESC, id DESC);
        CREATE TABLE IF NOT EXISTS commits (
            repo_id bigint NOT NULL REFERENCES repos (id),
            id text NOT NULL, parent_id text, title text NOT NULL, message text NOT NULL,
            author text NOT NULL, time timestamptz NOT NULL,
            PRIMARY KEY (repo_id, id));
        CREATE TABLE IF NOT EXISTS refs (
            repo_id bigint NOT NULL REFERENCES repos (id),
            kind smallint NOT NULL, name text NOT NULL, commit_id text NOT NULL,
            PRIMARY KEY (repo_id, kind, name));
        CREATE TABLE IF NOT EXISTS files (
            repo_id bigint NOT NULL, commit_id text NOT NULL, path text NOT NULL,
            sha256 text NOT NULL, size bigint NOT NULL,
            PRIMARY KEY (repo_id, commit_id, path));
        CREATE TABLE IF NOT EXISTS repo_tags (
            repo_id bigint NOT NULL, tag text NOT NULL,
            PRIMARY KEY (tag, repo_id));
        CREATE INDEX IF NOT EXISTS repo_tags_repo ON repo_tags (repo_id);
        CREATE TABLE IF NOT EXISTS repo_bases (
            repo_id bigint NOT NULL, base_name text NOT NULL, relation text NOT NULL,
            PRIMARY KEY (repo_id, base_name));
        CREATE INDEX IF NOT EXISTS repo_bases_base ON repo_bases (lower(base_name));
        CREATE TABLE IF NOT EXISTS likes (
            repo_id bigint NOT NULL, user_name text NOT NULL, PRIMARY KEY (repo_id, user_name));
        CREATE TABLE IF NOT EXISTS tokens (
            sha256 text PRIMARY KEY, user_name text NOT NULL, namespaces text[] NOT NULL, created_at timestamptz NOT NULL);
        """;

    const string RepoColumns = """
        r.id, r.namespace, r.name, r.private, r.created_at, r.last_modified, r.downloads, r.likes,
        r.license, r.pipeline_tag, r.library_name, r.architecture, r.model_type, r.num_parameters,
        r.tensor_types::text, r.tags, r.card_data::text,
        (SELECT commit_id FROM refs WHERE repo_id = r.id AND kind = 0 AND name = 'main'), r.gguf::text
        """;

    // pg_trgm (in PostgreSQL's contrib, which Debian's server package includes) lets ILIKE '%term%' use an index; it is
    // a trusted extension, so a user who may create objects in the database may add it. Without it search still works,
    // by scanning.
    const string TrigramIndex = """
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX IF NOT EXISTS repos_full_name_trgm ON repos USING gin (full_name gin_trgm_ops);
        """;

    public async Task InitializeAsync(CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await db.BeginTransactionAsync(ct);
        await ExecuteAsync(db, tx, "SELECT pg_advisory_xact_lock(@key)", ct, ("key", SchemaLockKey));
        await ExecuteAsync(db, tx, Schema, ct);
        await tx.SaveAsync("trigram", ct);
        try
        {
            await ExecuteAsync(db, tx, TrigramIndex, ct);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.UndefinedFile or PostgresErrorCodes.FeatureNotSupported)
        {
            await tx.RollbackAsync("trigram", ct);
        }
        await tx.CommitAsync(ct);
    }

    static NpgsqlCommand Command(NpgsqlConnection db, NpgsqlTransaction? tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = new NpgsqlCommand(sql, db, tx);
        foreach (var (name, value) in args)
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    static async Task<int> ExecuteAsync(NpgsqlConnection db, NpgsqlTransaction? tx, string sql, CancellationToken ct, params (string, object?)[] args)
    {
        await using var cmd = Command(db, tx, sql, args);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    static async Task<T> ScalarAsync<T>(NpgsqlConnection db, NpgsqlTransaction? tx, string sql, CancellationToken ct, params (string, object?)[] args)
    {
        await using var cmd = Command(db, tx, sql, args);
        return (T)(await cmd.ExecuteScalarAsync(ct))!;
    }

    async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map, CancellationToken ct, params (string, object?)[] args)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        return await QueryAsync(db, sql, map, ct, args);
    }

    static async Task<IReadOnlyList<T>> QueryAsync<T>(NpgsqlConnection db, string sql, Func<NpgsqlDataReader, T> map, CancellationToken ct, params (string, object?)[] args)
    {
        await using var cmd = Command(db, null, sql, args);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<T>();
        while (await reader.ReadAsync(ct))
            rows.Add(map(reader));
        return rows;
    }

    static DateTimeOffset Utc(DateTimeOffset time) => time.ToUniversalTime();
    static string? NullableString(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    // ASCII-only folding, as SQLite's NOCASE; lower() in the database agrees on ASCII whatever its locale.
    static string Fold(string text) => AsciiCase.Fold(text);

    static RepoRecord ReadRepo(NpgsqlDataReader r) => new(
        r.GetInt64(0),
        new RepoName(r.GetString(1), r.GetString(2)),
        r.GetBoolean(3),
        r.GetFieldValue<DateTimeOffset>(4),
        r.GetFieldValue<DateTimeOffset>(5),
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
            TensorTypes = MetadataJson.TensorTypes(r.GetString(14)),
            Tags = r.GetFieldValue<string[]>(15),
            CardDataJson = NullableString(r, 16),
            Gguf = MetadataJson.Gguf(NullableString(r, 18)),
        });

    static CommitRecord ReadCommit(NpgsqlDataReader r) =>
        new(r.GetString(0), NullableString(r, 1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetFieldValue<DateTimeOffset>(5));

    static FileEntry ReadFile(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetInt64(2));

    static LineageEdge ReadEdge(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3));

    public async Task<RepoRecord?> FindRepoAsync(RepoName name, CancellationToken ct)
    {
        var rows = await QueryAsync($"SELECT {RepoColumns} FROM repos r WHERE lower(r.full_name) = @name", ReadRepo, ct, ("name", Fold(name.ToString())));
        if (rows.Count == 0)
            return null;
        var bases = await QueryAsync("SELECT base_name, relation FROM repo_bases WHERE repo_id = @id ORDER BY lower(base_name) COLLATE \"C\"",
            r => new BaseModelLink(r.GetString(0), r.GetString(1)), ct, ("id", rows[0].Id));
        return rows[0] with { Metadata = rows[0].Metadata with { BaseModels = bases } };
    }

    public async Task<bool> TryCreateRepoAsync(RepoName name, bool isPrivate, string defaultBranch, CommitRecord initialCommit, CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await db.BeginTransactionAsync(ct);
        await using var insert = Command(db, tx, """
            INSERT INTO repos (namespace, name, full_name, private, created_at, last_modified)
            VALUES (@ns, @name, @full, @private, @time, @time) ON CONFLICT DO NOTHING RETURNING id
            """, ("ns", name.Namespace), ("name", name.Name), ("full", name.ToString()), ("private", isPrivate), ("time", Utc(initialCommit.Time)));
        if (await insert.ExecuteScalarAsync(ct) is not long repoId)
            return false;
        await InsertCommitAsync(db, tx, repoId, initialCommit, ct);
        await ExecuteAsync(db, tx, "INSERT INTO refs (repo_id, kind, name, commit_id) VALUES (@repo, 0, @name, @commit)", ct,
            ("repo", repoId), ("name", defaultBranch), ("commit", initialCommit.Id));
        await tx.CommitAsync(ct);
        return true;
    }

    static Task InsertCommitAsync(NpgsqlConnection db, NpgsqlTransaction tx, long repoId, CommitRecord c, CancellationToken ct) =>
        ExecuteAsync(db, tx, """
            INSERT INTO commits (repo_id, id, parent_id, title, message, author, time)
            VALUES (@repo, @id, @parent, @title, @message, @author, @time) ON CONFLICT DO NOTHING
            """, ct, ("repo", repoId), ("id", c.Id), ("parent", c.ParentId), ("title", c.Title),
            ("message", c.Message), ("author", c.Author), ("time", Utc(c.Time)));

    public Task<IReadOnlyList<RefRecord>> ListRefsAsync(long repoId, CancellationToken ct) =>
        QueryAsync("SELECT kind, name, commit_id FROM refs WHERE repo_id = @repo ORDER BY kind, name COLLATE \"C\"",
            r => new RefRecord((RefKind)r.GetInt16(0), r.GetString(1), r.GetString(2)), ct, ("repo", repoId));

    public async Task<CommitRecord?> FindCommitAsync(long repoId, string commitId, CancellationToken ct) =>
        (await QueryAsync("SELECT id, parent_id, title, message, author, time FROM commits WHERE repo_id = @repo AND id = @id",
            ReadCommit, ct, ("repo", repoId), ("id", commitId))).FirstOrDefault();

    public Task<IReadOnlyList<CommitRecord>> ListHistoryAsync(long repoId, string commitId, int limit, CancellationToken ct) =>
        QueryAsync("""
            WITH RECURSIVE history(id, n) AS (
                SELECT @id::text, 0
                UNION ALL
                SELECT c.parent_id, h.n + 1 FROM history h JOIN commits c ON c.repo_id = @repo AND c.id = h.id
                WHERE c.parent_id IS NOT NULL AND h.n + 1 < @limit)
            SELECT c.id, c.parent_id, c.title, c.message, c.author, c.time
            FROM history h JOIN commits c ON c.repo_id = @repo AND c.id = h.id ORDER BY h.n
            """, ReadCommit, ct, ("repo", repoId), ("id", commitId), ("limit", limit));

    public Task<IReadOnlyList<FileEntry>> ListFilesAsync(long repoId, string commitId, CancellationToken ct) =>
        QueryAsync("SELECT path, sha256, size FROM files WHERE repo_id = @repo AND commit_id = @commit ORDER BY path COLLATE \"C\"",
            ReadFile, ct, ("repo", repoId), ("commit", commitId));

    public async Task<FileEntry?> FindFileAsync(long repoId, string commitId, string path, CancellationToken ct) =>
        (await QueryAsync("SELECT path, sha256, size FROM files WHERE repo_id = @repo AND commit_id = @commit AND path = @path",
            ReadFile, ct, ("repo", repoId), ("commit", commitId), ("path", path))).FirstOrDefault();

    public async Task<bool> TryCommitAsync(long repoId, string branch, string expectedHead, CommitRecord commit,
        IReadOnlyList<FileEntry> files, ModelMetadata? metadata, CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await db.BeginTransactionAsync(ct);
        // Under READ COMMITTED a concurrent mover holds the row lock; once it commits, this UPDATE re-checks
        // commit_id on the new row version and matches nothing, so exactly one of two racing commits moves the branch.
        var moved = await ExecuteAsync(db, tx,
            "UPDATE refs SET commit_id = @new WHERE repo_id = @repo AND kind = 0 AND name = @branch AND commit_id = @expected",
            ct, ("new", commit.Id), ("repo", repoId), ("branch", branch), ("expected", expectedHead));
        if (moved == 0)
            return false;
        await InsertCommitAsync(db, tx, repoId, commit, ct);
        await ExecuteAsync(db, tx, """
            INSERT INTO files (repo_id, commit_id, path, sha256, size)
            SELECT @repo, @commit, * FROM unnest(@paths, @shas, @sizes) ON CONFLICT DO NOTHING
            """, ct, ("repo", repoId), ("commit", commit.Id), ("paths", files.Select(f => f.Path).ToArray()),
            ("shas", files.Select(f => f.Sha256).ToArray()), ("sizes", files.Select(f => f.Size).ToArray()));
        await ExecuteAsync(db, tx, "UPDATE repos SET last_modified = @time WHERE id = @repo", ct,
            ("time", Utc(commit.Time)), ("repo", repoId));
        if (metadata is not null)
            await ReplaceMetadataAsync(db, tx, repoId, metadata, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    static async Task ReplaceMetadataAsync(NpgsqlConnection db, NpgsqlTransaction tx, long repoId, ModelMetadata m, CancellationToken ct)
    {
        await ExecuteAsync(db, tx, """
            UPDATE repos SET license = @license, pipeline_tag = @pipeline, library_name = @library, architecture = @arch,
                model_type = @type, num_parameters = @params, tensor_types = @tensors::jsonb, tags = @tags, card_data = @card::json,
                gguf = @gguf::json
            WHERE id = @repo
            """, ct, ("license", m.License), ("pipeline", m.PipelineTag), ("library", m.LibraryName),
            ("arch", m.Architecture), ("type", m.ModelType), ("params", m.ParameterCount),
            ("tensors", MetadataJson.Serialize(m.TensorTypes)), ("tags", m.Tags.ToArray()),
            ("card", m.CardDataJson), ("gguf", MetadataJson.Serialize(m.Gguf)), ("repo", repoId));
        await ExecuteAsync(db, tx, "DELETE FROM repo_tags WHERE repo_id = @repo", ct, ("repo", repoId));
        await ExecuteAsync(db, tx, "INSERT INTO repo_tags (repo_id, tag) SELECT @repo, unnest(@tags)", ct,
            ("repo", repoId), ("tags", m.Tags.Select(Fold).Distinct(StringComparer.Ordinal).ToArray()));
        await ExecuteAsync(db, tx, "DELETE FROM repo_bases WHERE repo_id = @repo", ct, ("repo", repoId));
        var bases = m.BaseModels.DistinctBy(b => Fold(b.BaseModel), StringComparer.Ordinal).ToList();
        await ExecuteAsync(db, tx, "INSERT INTO repo_bases (repo_id, base_name, relation) SELECT @repo, * FROM unnest(@bases, @relations)", ct,
            ("repo", repoId), ("bases", bases.Select(b => b.BaseModel).ToArray()), ("relations", bases.Select(b => b.Relation).ToArray()));
    }

    public async Task<bool> TryCreateRefAsync(long repoId, RefRecord reference, CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        return await ExecuteAsync(db, null, """
            INSERT INTO refs (repo_id, kind, name, commit_id) VALUES (@repo, @kind, @name, @commit)
            ON CONFLICT DO NOTHING
            """, ct, ("repo", repoId), ("kind", (short)reference.Kind), ("name", reference.Name), ("commit", reference.CommitId)) == 1;
    }

    /// <summary>The condition that hides other namespaces' private repos from <c>r</c>, and its parameters.</summary>
    static (string Sql, (string, object?)[] Args) Visibility(IReadOnlyCollection<string> visibleNamespaces) =>
        visibleNamespaces.Count == 0
            ? ("NOT r.private", [])
            : ("(NOT r.private OR lower(r.namespace) = ANY(@visible))", [("visible", visibleNamespaces.Select(Fold).ToArray())]);

    public async Task<IReadOnlyList<RepoRecord>> SearchAsync(ModelQuery query, CancellationToken ct)
    {
        var visibility = Visibility(query.VisibleNamespaces);
        var where = new List<string> { visibility.Sql };
        var args = new List<(string, object?)>(visibility.Args);
        // Each indexed criterion, as a query of the ids it matches; those that a B-tree index counts cheaply.
        var candidates = new List<string>();
        var countable = new List<string>();
        if (!string.IsNullOrEmpty(query.Search))
        {
            const string Matches = @"r.full_name ILIKE @search ESCAPE '\'";
            where.Add(Matches);
            args.Add(("search", "%" + query.Search.Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_") + "%"));
            // The trigram index narrows only terms of three characters or more.
            if (query.Search.Length >= 3)
                candidates.Add($"SELECT r.id FROM repos r WHERE {Matches}");
        }
        if (!string.IsNullOrEmpty(query.Author))
        {
            where.Add("lower(r.namespace) = @author");
            args.Add(("author", Fold(query.Author)));
            candidates.Add("SELECT r.id FROM repos r WHERE lower(r.namespace) = @author");
            countable.Add(candidates[^1]);
        }
        for (var i = 0; i < query.Tags.Count; i++)
        {
            where.Add($"EXISTS (SELECT 1 FROM repo_tags t WHERE t.tag = @tag{i} AND t.repo_id = r.id)");
            args.Add(($"tag{i}", Fold(query.Tags[i])));
            candidates.Add($"SELECT repo_id AS id FROM repo_tags WHERE tag = @tag{i}");
            countable.Add(candidates[^1]);
        }
        var (column, nullable) = query.Sort switch
        {
            ModelSort.Likes => ("r.likes", false),
            ModelSort.LastModified => ("r.last_modified", false),
            ModelSort.CreatedAt => ("r.created_at", false),
            ModelSort.Id => ("lower(r.full_name) COLLATE \"C\"", false),
            ModelSort.Parameters => ("r.num_parameters", true),
            _ => ("r.downloads", false),
        };
        var direction = query.Descending ? "DESC" : "ASC";
        // SQLite orders NULL below every value, PostgreSQL above: spelled out for the one nullable column only, since
        // on the others it would no longer match the sort indexes (whose descending order puts NULL first).
        var nulls = nullable ? (query.Descending ? " NULLS LAST" : " NULLS FIRST") : "";
        var order = $"{column} {direction}{nulls}, r.id {direction}";
        var sortIndexed = query.Sort is ModelSort.Downloads or ModelSort.Likes or ModelSort.LastModified;
        args.Add(("limit", query.Limit));
        args.Add(("offset", query.Offset));

        await using var db = await _dataSource.OpenConnectionAsync(ct);
        Task<IReadOnlyList<RepoRecord>> PageAsync(string from, params (string, object?)[] extra) => QueryAsync(db, $"""
            SELECT {RepoColumns} FROM {from} WHERE {string.Join(" AND ", where)}
            ORDER BY {order} LIMIT @limit OFFSET @offset
            """, ReadRepo, ct, [.. args, .. extra]);

        // One criterion: the planner's estimate of how many rows it matches picks between walking the sort index and
        // sorting the matches, and picks well now that the sort indexes match the ORDER BY.
        var criteria = where.Count - 1;  // besides visibility
        if (criteria <= 1)
            return await PageAsync("repos r");
        // Several: the planner multiplies their estimates as if they were independent, and walked the whole sort index
        // for combinations that match nothing. So they are steered as in the SQLite store (SearchPlan); a small
        // candidate set goes in as an id array, whose length the planner knows. The text criterion is not counted:
        // its trigram index costs about as much as the whole search when the term is common.
        if (await SmallestCandidateSetAsync(db, countable, Plan.SmallCandidateSet, [.. args], ct) is { } ids)
            return await PageAsync("(SELECT * FROM repos WHERE id = ANY(@ids)) r", ("ids", ids));
        // The derived table keeps the index order, so the walk stops as soon as the page is full.
        if (sortIndexed)
        {
            var page = await PageAsync($"(SELECT * FROM repos r ORDER BY {order} LIMIT @walk) r", ("walk", Plan.WalkLimit));
            if (page.Count == query.Limit)
                return page;
        }
        return await PageAsync($"({string.Join(" INTERSECT ", candidates)}) c JOIN repos r ON r.id = c.id");
    }

    /// <summary>The ids the candidate query with the fewest rows matches if it has fewer than <paramref name="small"/>, else null.</summary>
    static async Task<long[]?> SmallestCandidateSetAsync(NpgsqlConnection db, List<string> candidates, int small, (string, object?)[] args, CancellationToken ct)
    {
        long[]? smallest = null;
        foreach (var candidate in candidates)
        {
            var fewest = smallest?.Length ?? small;
            var ids = await QueryAsync(db, $"{candidate} LIMIT {fewest}", r => r.GetInt64(0), ct, args);
            if (ids.Count < fewest)
                smallest = [.. ids];
        }
        return smallest;
    }

    // A model reached along several paths is reported once, at its smallest depth.
    public Task<IReadOnlyList<LineageEdge>> AncestorsAsync(string model, LineagePage page, CancellationToken ct) =>
        QueryAsync("""
            WITH RECURSIVE ancestors(model, relation, depth, via) AS (
                SELECT b.base_name, b.relation, 1, r.full_name
                FROM repos r JOIN repo_bases b ON b.repo_id = r.id WHERE lower(r.full_name) = @model
                UNION
                SELECT b.base_name, b.relation, a.depth + 1, r.full_name
                FROM ancestors a JOIN repos r ON lower(r.full_name) = lower(a.model) JOIN repo_bases b ON b.repo_id = r.id
                WHERE a.depth < @maxDepth)
            SELECT model, relation, depth, via FROM (
                SELECT DISTINCT ON (lower(model)) model, relation, depth, via FROM ancestors
                ORDER BY lower(model), depth, via) nearest
            ORDER BY depth, lower(model) COLLATE "C" LIMIT @limit OFFSET @offset
            """, ReadEdge, ct, ("model", Fold(model)), ("maxDepth", page.MaxDepth), ("limit", page.Limit), ("offset", page.Offset));

    public Task<IReadOnlyList<LineageEdge>> DescendantsAsync(string model, LineagePage page, IReadOnlyCollection<string> visibleNamespaces, CancellationToken ct)
    {
        var visibility = Visibility(visibleNamespaces);
        return LineageWalk.DescendantsAsync(model, page, frontier => QueryAsync($"""
            SELECT r.full_name, b.relation, b.base_name FROM repo_bases b JOIN repos r ON r.id = b.repo_id
            WHERE lower(b.base_name) = ANY(@frontier) AND {visibility.Sql}
            """, r => new ChildEdge(r.GetString(0), r.GetString(1), r.GetString(2)), ct,
            [("frontier", frontier.Select(Fold).ToArray()), .. visibility.Args]));
    }

    public async Task AddDownloadAsync(long repoId, CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        await ExecuteAsync(db, null, "UPDATE repos SET downloads = downloads + 1 WHERE id = @repo", ct, ("repo", repoId));
    }

    public async Task<long> SetLikeAsync(long repoId, string user, bool liked, CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await db.BeginTransactionAsync(ct);
        var changed = await ExecuteAsync(db, tx, liked
            ? "INSERT INTO likes (repo_id, user_name) VALUES (@repo, @user) ON CONFLICT DO NOTHING"
            : "DELETE FROM likes WHERE repo_id = @repo AND user_name = @user", ct, ("repo", repoId), ("user", user));
        // An increment rather than a recount: a recount would read a snapshot that misses a concurrent like.
        var count = await ScalarAsync<long>(db, tx, "UPDATE repos SET likes = likes + @delta WHERE id = @repo RETURNING likes", ct,
            ("delta", (long)(liked ? changed : -changed)), ("repo", repoId));
        await tx.CommitAsync(ct);
        return count;
    }

    public async Task AddTokenAsync(TokenRecord token, CancellationToken ct)
    {
        await using var db = await _dataSource.OpenConnectionAsync(ct);
        await ExecuteAsync(db, null, "INSERT INTO tokens (sha256, user_name, namespaces, created_at) VALUES (@sha, @user, @ns, @time)", ct,
            ("sha", token.TokenSha256), ("user", token.User), ("ns", token.Namespaces.ToArray()), ("time", Utc(token.CreatedAt)));
    }

    public async Task<TokenRecord?> FindTokenAsync(string tokenSha256, CancellationToken ct) =>
        (await QueryAsync("SELECT sha256, user_name, namespaces, created_at FROM tokens WHERE sha256 = @sha",
            r => new TokenRecord(r.GetString(0), r.GetString(1), r.GetFieldValue<string[]>(2), r.GetFieldValue<DateTimeOffset>(3)),
            ct, ("sha", tokenSha256))).FirstOrDefault();

    /// <summary>Where a search switches between reading a criterion's rows whole, walking the sort index and intersecting.</summary>
    internal SearchPlan Plan { get; init; } = SearchPlan.Default;

    public void Dispose() => _dataSource.Dispose();
}

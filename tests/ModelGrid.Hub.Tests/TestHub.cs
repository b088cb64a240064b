using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Hub;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Repos;
using Npgsql;

namespace ModelGrid.Hub.Tests;

/// <summary>A real hub on 127.0.0.1 with a free port and a throw-away data directory and database, plus tokens for two users.</summary>
sealed class TestHub : IAsyncDisposable
{
    readonly TestDatabase _database;
    public HubServer Server { get; }
    public string DataDir => _database.DataDir;
    /// <summary>User "alice", may write namespaces alice and acme.</summary>
    public string AliceToken { get; }
    /// <summary>User "bob", may write namespace bob only.</summary>
    public string BobToken { get; }
    public HttpClient Anonymous { get; }
    public HttpClient Alice { get; }
    public HttpClient Bob { get; }

    TestHub(HubServer server, TestDatabase database, string aliceToken, string bobToken)
    {
        (Server, _database, AliceToken, BobToken) = (server, database, aliceToken, bobToken);
        Anonymous = NewClient(null);
        Alice = NewClient(aliceToken);
        Bob = NewClient(bobToken);
    }

    public static async Task<TestHub> StartAsync(HubStoreKind store = HubStoreKind.Sqlite, long maxFileSize = 1L << 30)
    {
        var database = await TestDatabase.CreateAsync(store);
        var server = await HubServer.StartAsync(database.Options(maxFileSize), CancellationToken.None);
        var alice = await server.Services.Tokens.CreateAsync("alice", ["alice", "acme"], CancellationToken.None);
        var bob = await server.Services.Tokens.CreateAsync("bob", ["bob"], CancellationToken.None);
        return new TestHub(server, database, alice, bob);
    }

    public HttpClient NewClient(string? token)
    {
        var client = new HttpClient { BaseAddress = new Uri(Server.Url + "/"), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public HubClient ClientFor(string? token) => new(NewClient(token), token);

    /// <summary>Creates <paramref name="repo"/> as alice and pushes <paramref name="files"/> (path → content) as one commit.</summary>
    public async Task<string> PushAsync(string repo, IReadOnlyDictionary<string, byte[]> files, bool isPrivate = false)
    {
        var dir = Path.Combine(DataDir, "push-" + Guid.NewGuid().ToString("N"));
        foreach (var (path, content) in files)
        {
            var full = Path.Combine(dir, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            await File.WriteAllBytesAsync(full, content);
        }
        var client = ClientFor(AliceToken);
        var name = RepoName.Parse(repo);
        await client.CreateRepoAsync(name, isPrivate, CancellationToken.None);
        var commit = await client.PushDirectoryAsync(dir, name, "test push", "main", null, CancellationToken.None);
        Directory.Delete(dir, recursive: true);
        return commit;
    }

    /// <summary>Everything the metadata store holds, as text: the SQLite files, or every row of every PostgreSQL table.</summary>
    public async Task<string> StoredTextAsync()
    {
        if (_database.PostgresConnectionString is not { } postgres)
        {
            var files = Directory.EnumerateFiles(DataDir, "hub.db*").Select(f => File.ReadAllBytes(f)).SelectMany(b => b).ToArray();
            return Encoding.ASCII.GetString(files);
        }
        await using var db = new NpgsqlConnection(postgres);
        await db.OpenAsync();
        var text = new StringBuilder();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", db))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                tables.Add(reader.GetString(0));
        }
        foreach (var table in tables)
        {
            await using var dump = new NpgsqlCommand($"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t", db);
            text.Append(await dump.ExecuteScalarAsync()).Append('\n');
        }
        return text.ToString();
    }

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Deterministic pseudo-random bytes (weights stand-in).</summary>
    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static async Task<JsonNode> JsonAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in new[] { Anonymous, Alice, Bob })
            client.Dispose();
        await Server.DisposeAsync();
        await _database.DisposeAsync();
    }
}

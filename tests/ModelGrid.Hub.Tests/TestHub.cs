using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Hub;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Tests;

/// <summary>A real hub on 127.0.0.1 with a free port and a throw-away data directory, plus tokens for two users.</summary>
sealed class TestHub : IAsyncDisposable
{
    public HubServer Server { get; }
    public string DataDir { get; }
    /// <summary>User "alice", may write namespaces alice and acme.</summary>
    public string AliceToken { get; }
    /// <summary>User "bob", may write namespace bob only.</summary>
    public string BobToken { get; }
    public HttpClient Anonymous { get; }
    public HttpClient Alice { get; }
    public HttpClient Bob { get; }

    TestHub(HubServer server, string dataDir, string aliceToken, string bobToken)
    {
        (Server, DataDir, AliceToken, BobToken) = (server, dataDir, aliceToken, bobToken);
        Anonymous = NewClient(null);
        Alice = NewClient(aliceToken);
        Bob = NewClient(bobToken);
    }

    public static async Task<TestHub> StartAsync(long maxFileSize = 1L << 30)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "modelgrid-hub-test-" + Guid.NewGuid().ToString("N"));
        var server = await HubServer.StartAsync(new HubOptions { DataDir = dataDir, Url = "http://127.0.0.1:0", MaxFileSize = maxFileSize }, CancellationToken.None);
        var alice = await server.Services.Tokens.CreateAsync("alice", ["alice", "acme"], CancellationToken.None);
        var bob = await server.Services.Tokens.CreateAsync("bob", ["bob"], CancellationToken.None);
        return new TestHub(server, dataDir, alice, bob);
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
        Directory.Delete(DataDir, recursive: true);
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace ModelGrid.Hub.Tests;

public class UploadTests
{
    static async Task<string> UploadHrefAsync(HttpClient client, string repo, string oid, long size)
    {
        using var response = await client.PostAsync($"{repo}.git/info/lfs/objects/batch", JsonContent.Create(new
        {
            operation = "upload",
            hash_algo = "sha_256",
            objects = new[] { new { oid, size } },
        }));
        var batch = await TestHub.JsonAsync(response);
        return (string)batch["objects"]![0]!["actions"]!["upload"]!["href"]!;
    }

    static StringContent Ndjson(params object[] lines) =>
        new(string.Join('\n', lines.Select(l => System.Text.Json.JsonSerializer.Serialize(l))), Encoding.UTF8, "application/x-ndjson");

    static object Header(string summary, string? parent = null) => new { key = "header", value = new { summary, parentCommit = parent } };

    static object LfsFile(string path, byte[] content) =>
        new { key = "lfsFile", value = new { path, algo = "sha256", oid = Sha(content), size = content.Length } };

    static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    static async Task<HttpResponseMessage> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string fragment)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, response.StatusCode);
        Assert.Contains(fragment, (string)JsonNode.Parse(body)!["error"]!);
        return response;
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Concurrent_commits_on_one_parent_let_one_win_and_the_other_get_409(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        var head = await hub.PushAsync("alice/race", new Dictionary<string, byte[]> { ["base.txt"] = TestHub.Text("base") });
        var contents = Enumerable.Range(0, 6).Select(i => TestHub.Text($"writer {i}")).ToList();
        foreach (var content in contents)
        {
            var href = await UploadHrefAsync(hub.Alice, "alice/race", Sha(content), content.Length);
            (await hub.Anonymous.PutAsync(href, new ByteArrayContent(content))).EnsureSuccessStatusCode();
        }

        var responses = await Task.WhenAll(contents.Select((content, i) =>
            hub.Alice.PostAsync("api/models/alice/race/commit/main", Ndjson(Header($"writer {i}", head), LfsFile($"w{i}.txt", content)))));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(contents.Count - 1, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        var loser = Array.FindIndex(responses, r => r.StatusCode == HttpStatusCode.Conflict);
        // The loser's object is still stored: a retry on the new head needs no new upload.
        var newHead = (string)(await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/race")))["sha"]!;
        using var retry = await hub.Alice.PostAsync("api/models/alice/race/commit/main",
            Ndjson(Header("retry", newHead), LfsFile($"w{loser}.txt", contents[loser])));
        await TestHub.JsonAsync(retry);
        var files = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/race/tree/main"))).AsArray();
        Assert.Equal(3, files.Count);
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("dir\\\\file.txt")]
    [InlineData("a/./b.txt")]
    [InlineData(".git/config")]
    public async Task Path_traversal_is_refused_and_nothing_is_committed(string path)
    {
        await using var hub = await TestHub.StartAsync();
        var head = await hub.PushAsync("alice/safe", new Dictionary<string, byte[]> { ["ok.txt"] = TestHub.Text("ok") });
        var content = TestHub.Text("ok");

        using var response = await hub.Alice.PostAsync("api/models/alice/safe/commit/main", Ndjson(Header("bad"), LfsFile(path, content)));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "path");
        Assert.Equal(head, (string)(await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/safe")))["sha"]!);
    }

    [Theory]
    [InlineData("alice", "bad..name")]
    [InlineData("alice", "-leading")]
    [InlineData("al ice", "name")]
    [InlineData("alice", "name.git")]
    public async Task Invalid_repo_names_are_refused(string ns, string name)
    {
        await using var hub = await TestHub.StartAsync();
        using var response = await hub.Alice.PostAsync("api/repos/create", JsonContent.Create(new { name, organization = ns, type = "model" }));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "Invalid repository name");
    }

    [Fact]
    public async Task Upload_with_wrong_hash_is_refused_and_not_stored()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/up", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("a") });
        var declared = TestHub.Bytes(5000, seed: 2);
        var sent = TestHub.Bytes(5000, seed: 3);
        var href = await UploadHrefAsync(hub.Alice, "alice/up", Sha(declared), declared.Length);

        await AssertErrorAsync(await hub.Anonymous.PutAsync(href, new ByteArrayContent(sent)), HttpStatusCode.BadRequest, "hash mismatch");
        Assert.False(hub.Server.Services.Blobs.Exists(Sha(declared)));
        Assert.False(hub.Server.Services.Blobs.Exists(Sha(sent)));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(hub.DataDir, "blobs", "tmp")));
    }

    [Fact]
    public async Task Truncated_upload_is_refused_and_not_stored()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/up", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("a") });
        var content = TestHub.Bytes(5000, seed: 4);
        var href = await UploadHrefAsync(hub.Alice, "alice/up", Sha(content), content.Length);

        await AssertErrorAsync(await hub.Anonymous.PutAsync(href, new ChunkedContent(content[..3000])), HttpStatusCode.BadRequest, "truncated");
        Assert.False(hub.Server.Services.Blobs.Exists(Sha(content)));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(hub.DataDir, "blobs", "tmp")));
    }

    [Fact]
    public async Task Tampered_upload_url_is_refused()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/up", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("a") });
        var content = TestHub.Bytes(100, seed: 5);
        var href = await UploadHrefAsync(hub.Alice, "alice/up", Sha(content), content.Length);

        var tampered = href.Replace($"size={content.Length}", $"size={content.Length + 1}");
        await AssertErrorAsync(await hub.Anonymous.PutAsync(tampered, new ByteArrayContent([.. content, 0])), HttpStatusCode.Unauthorized, "signature");
    }

    [Fact]
    public async Task Files_over_the_quota_are_refused_at_preupload()
    {
        await using var hub = await TestHub.StartAsync(maxFileSize: 1000);
        await hub.PushAsync("alice/quota", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("a") });
        using var response = await hub.Alice.PostAsync("api/models/alice/quota/preupload/main",
            JsonContent.Create(new { files = new[] { new { path = "big.bin", size = 1001, sample = "" } } }));
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "exceeds");
    }

    [Fact]
    public async Task Committing_an_object_never_uploaded_is_refused()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/up", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("a") });
        using var response = await hub.Alice.PostAsync("api/models/alice/up/commit/main",
            Ndjson(Header("ghost"), LfsFile("ghost.bin", TestHub.Bytes(10, seed: 6))));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "never uploaded");
    }

    [Fact]
    public async Task Identical_files_in_two_repos_are_stored_once()
    {
        await using var hub = await TestHub.StartAsync();
        var shared = TestHub.Bytes(10_000, seed: 7);
        await hub.PushAsync("alice/one", new Dictionary<string, byte[]> { ["w.bin"] = shared });
        await hub.PushAsync("acme/two", new Dictionary<string, byte[]> { ["other/w.bin"] = shared });

        var blobs = Directory.EnumerateFiles(Path.Combine(hub.DataDir, "blobs", "sha256"), "*", SearchOption.AllDirectories).ToList();
        Assert.Single(blobs, b => Path.GetFileName(b) == Sha(shared));
        Assert.Equal(shared, await hub.Anonymous.GetByteArrayAsync("acme/two/resolve/main/other/w.bin"));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Writes_need_a_token_for_the_namespace(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        await hub.PushAsync("alice/owned", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("a") });

        using var anonymous = await hub.Anonymous.PostAsync("api/models/alice/owned/commit/main", Ndjson(Header("x")));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var bob = await hub.Bob.PostAsync("api/models/alice/owned/commit/main", Ndjson(Header("x")));
        Assert.Equal(HttpStatusCode.Forbidden, bob.StatusCode);
        using var bobCreate = await hub.Bob.PostAsync("api/repos/create", JsonContent.Create(new { name = "x", organization = "alice" }));
        Assert.Equal(HttpStatusCode.Forbidden, bobCreate.StatusCode);
        using var badToken = hub.NewClient("hf_not_a_real_token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await badToken.GetAsync("api/models")).StatusCode);
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Private_repos_answer_404_to_others_and_stay_out_of_listings(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        await hub.PushAsync("acme/secret", new Dictionary<string, byte[]> { ["w.bin"] = TestHub.Bytes(10, seed: 8) }, isPrivate: true);

        foreach (var client in new[] { hub.Anonymous, hub.Bob })
        {
            using var info = await client.GetAsync("api/models/acme/secret");
            Assert.Equal(HttpStatusCode.NotFound, info.StatusCode);
            using var file = await client.GetAsync("acme/secret/resolve/main/w.bin");
            Assert.Equal(HttpStatusCode.NotFound, file.StatusCode);
            Assert.Empty((await TestHub.JsonAsync(await client.GetAsync("api/models?author=acme"))).AsArray());
        }
        Assert.True((bool)(await TestHub.JsonAsync(await hub.Alice.GetAsync("api/models/acme/secret")))["private"]!);
        Assert.Single((await TestHub.JsonAsync(await hub.Alice.GetAsync("api/models?author=acme"))).AsArray());
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Tokens_are_stored_only_as_hashes(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        Assert.NotEmpty(await hub.StoredTextAsync());
        Assert.DoesNotContain(hub.AliceToken, await hub.StoredTextAsync());
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(hub.AliceToken))), await hub.StoredTextAsync());
    }

    /// <summary>A body sent with chunked encoding, so the server learns its length only by reading it.</summary>
    sealed class ChunkedContent(byte[] data) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => stream.WriteAsync(data).AsTask();
        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

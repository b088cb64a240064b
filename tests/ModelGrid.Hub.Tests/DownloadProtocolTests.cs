using System.Net.Http.Json;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace ModelGrid.Hub.Tests;

public class DownloadProtocolTests
{
    static readonly byte[] Weights = TestHub.Bytes(200_000, seed: 1);

    static Dictionary<string, byte[]> Files() => new()
    {
        ["README.md"] = TestHub.Text("# tiny\n"),
        ["model.gguf"] = Weights,
        ["tokenizer/vocab.json"] = TestHub.Text("{}"),
    };

    [Fact]
    public async Task Resolve_serves_content_with_hub_headers()
    {
        await using var hub = await TestHub.StartAsync();
        var commit = await hub.PushAsync("alice/tiny", Files());

        using var response = await hub.Anonymous.GetAsync("alice/tiny/resolve/main/model.gguf");
        var sha = Convert.ToHexStringLower(SHA256.HashData(Weights));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Weights, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(commit, response.Headers.GetValues("X-Repo-Commit").Single());
        Assert.Equal(Weights.Length.ToString(), response.Headers.GetValues("X-Linked-Size").Single());
        Assert.Equal($"\"{sha}\"", response.Headers.GetValues("X-Linked-ETag").Single());
        Assert.Equal($"\"{sha}\"", response.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Range_request_returns_the_slice_with_content_range()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/tiny", Files());

        using var request = new HttpRequestMessage(HttpMethod.Get, "alice/tiny/resolve/main/model.gguf");
        request.Headers.Range = new RangeHeaderValue(1000, 1999);
        using var response = await hub.Anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(Weights[1000..2000], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(Weights.Length, response.Content.Headers.ContentRange!.Length);
    }

    [Fact]
    public async Task Head_gives_size_and_etag_without_body()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/tiny", Files());

        using var response = await hub.Anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Head, "alice/tiny/resolve/main/model.gguf"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Weights.Length, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Tree_lists_files_and_directories_with_lfs_hashes()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/tiny", Files());

        var top = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/tiny/tree/main"))).AsArray();
        Assert.Equal(["README.md", "model.gguf", "tokenizer"], top.Select(e => (string)e!["path"]!));
        Assert.Equal("directory", (string)top.Single(e => (string)e!["path"]! == "tokenizer")!["type"]!);

        var all = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/tiny/tree/main?recursive=true"))).AsArray();
        var weights = all.Single(e => (string)e!["path"]! == "model.gguf")!;
        Assert.Equal(Weights.Length, (long)weights["size"]!);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Weights)), (string)weights["lfs"]!["oid"]!);
        Assert.Contains(all, e => (string)e!["path"]! == "tokenizer/vocab.json");

        var sub = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/tiny/tree/main/tokenizer"))).AsArray();
        Assert.Equal(["tokenizer/vocab.json"], sub.Select(e => (string)e!["path"]!));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Old_revisions_stay_readable_by_commit_id_and_tag(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        var first = await hub.PushAsync("alice/tiny", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("one") });
        using (var tag = await hub.Alice.PostAsync("api/models/alice/tiny/tag/main", JsonContent.Create(new { tag = "v1" })))
            await TestHub.JsonAsync(tag);
        var second = await hub.PushAsync("alice/tiny", new Dictionary<string, byte[]> { ["a.txt"] = TestHub.Text("two") });

        Assert.NotEqual(first, second);
        Assert.Equal("one", await hub.Anonymous.GetStringAsync($"alice/tiny/resolve/{first}/a.txt"));
        Assert.Equal("one", await hub.Anonymous.GetStringAsync("alice/tiny/resolve/v1/a.txt"));
        Assert.Equal("two", await hub.Anonymous.GetStringAsync("alice/tiny/resolve/main/a.txt"));
        var info = await TestHub.JsonAsync(await hub.Anonymous.GetAsync($"api/models/alice/tiny/revision/{first}"));
        Assert.Equal(first, (string)info["sha"]!);
        var history = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/tiny/commits/main"))).AsArray();
        Assert.Equal([second, first], history.Take(2).Select(c => (string)c!["id"]!));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Unknown_revision_and_missing_file_are_distinct_404s(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        await hub.PushAsync("alice/tiny", Files());

        using var revision = await hub.Anonymous.GetAsync("alice/tiny/resolve/no-such-branch/model.gguf");
        Assert.Equal(HttpStatusCode.NotFound, revision.StatusCode);
        Assert.Equal("RevisionNotFound", revision.Headers.GetValues("X-Error-Code").Single());
        using var entry = await hub.Anonymous.GetAsync("alice/tiny/resolve/main/missing.bin");
        Assert.Equal("EntryNotFound", entry.Headers.GetValues("X-Error-Code").Single());
        using var repo = await hub.Anonymous.GetAsync("alice/nothing/resolve/main/model.gguf");
        Assert.Equal("RepoNotFound", repo.Headers.GetValues("X-Error-Code").Single());
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Downloads_count_weight_fetches_but_not_probes(HubStoreKind kind)
    {
        await using var hub = await TestHub.StartAsync(kind);
        await hub.PushAsync("alice/tiny", Files());

        (await hub.Anonymous.GetAsync("alice/tiny/resolve/main/model.gguf")).Dispose();
        (await hub.Anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Head, "alice/tiny/resolve/main/model.gguf"))).Dispose();
        using (var probe = new HttpRequestMessage(HttpMethod.Get, "alice/tiny/resolve/main/model.gguf"))
        {
            probe.Headers.Range = new RangeHeaderValue(0, 0);
            (await hub.Anonymous.SendAsync(probe)).Dispose();
        }
        (await hub.Anonymous.GetAsync("alice/tiny/resolve/main/README.md")).Dispose();

        var info = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/tiny"));
        Assert.Equal(1, (long)info["downloads"]!);
    }

    [Fact]
    public async Task Pull_resumes_a_partial_download_and_verifies_it()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/tiny", Files());
        var client = hub.ClientFor(null);
        var name = ModelGrid.Hub.Repos.RepoName.Parse("alice/tiny");
        var file = (await client.ListFilesAsync(name, "main", CancellationToken.None)).Single(f => f.Path == "model.gguf");
        var destination = Path.Combine(hub.DataDir, "pulled", "model.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        await File.WriteAllBytesAsync(destination + ".part", Weights[..70_000]);

        long firstReported = -1;
        await client.DownloadFileAsync(name, "main", file, destination,
            new SynchronousProgress(p => firstReported = firstReported < 0 ? p.Done : firstReported), CancellationToken.None);

        Assert.Equal(Weights, await File.ReadAllBytesAsync(destination));
        Assert.False(File.Exists(destination + ".part"));
        Assert.True(firstReported >= 70_000, $"download restarted from byte 0 (first progress {firstReported})");
    }

    [Fact]
    public async Task Pull_rejects_a_corrupt_partial_file()
    {
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/tiny", Files());
        var client = hub.ClientFor(null);
        var name = ModelGrid.Hub.Repos.RepoName.Parse("alice/tiny");
        var file = (await client.ListFilesAsync(name, "main", CancellationToken.None)).Single(f => f.Path == "model.gguf");
        var destination = Path.Combine(hub.DataDir, "pulled", "model.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        await File.WriteAllBytesAsync(destination + ".part", new byte[70_000]);

        var error = await Assert.ThrowsAsync<IOException>(() => client.DownloadFileAsync(name, "main", file, destination, null, CancellationToken.None));
        Assert.Contains("SHA-256", error.Message);
        Assert.False(File.Exists(destination));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(3)]
    public async Task An_interrupted_chunked_download_resumes_each_chunk_and_verifies_the_file(int? connections)
    {
        // Past the chunking threshold, and odd, so the last chunk is short.
        var large = TestHub.Bytes(checked((int)ModelGrid.Hub.Client.FileDownload.ParallelThreshold + 16_000_001), seed: 9);
        const long StopAfter = 40L << 20;
        await using var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/large", new Dictionary<string, byte[]> { ["model.gguf"] = large });
        var client = new ModelGrid.Hub.Client.HubClient(hub.Anonymous, null) { Connections = connections };
        var name = ModelGrid.Hub.Repos.RepoName.Parse("alice/large");
        var file = (await client.ListFilesAsync(name, "main", CancellationToken.None)).Single();
        var destination = Path.Combine(hub.DataDir, "pulled", "model.gguf");

        using (var interrupt = new CancellationTokenSource())
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.DownloadFileAsync(name, "main", file, destination,
                new SynchronousProgress(p => { if (p.Done >= StopAfter) interrupt.Cancel(); }), interrupt.Token));
        }
        Assert.False(File.Exists(destination));
        Assert.True(File.Exists(destination + ".part"));

        long firstReported = -1;
        await client.DownloadFileAsync(name, "main", file, destination,
            new SynchronousProgress(p => firstReported = firstReported < 0 ? p.Done : firstReported), CancellationToken.None);

        Assert.Equal(large, await File.ReadAllBytesAsync(destination));
        Assert.True(firstReported >= StopAfter, $"the resumed download started with {firstReported} of the {StopAfter} bytes received before");
        Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(destination)!, "*.part*"));
    }

    sealed class SynchronousProgress(Action<ModelGrid.Hub.Client.TransferProgress> report) : IProgress<ModelGrid.Hub.Client.TransferProgress>
    {
        public void Report(ModelGrid.Hub.Client.TransferProgress value) => report(value);
    }
}

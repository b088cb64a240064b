using System.Net;
using System.Security.Cryptography;

namespace ModelGrid.Hub.Tests;

/// <summary>The ModelScope download API the hub also serves, with the shapes the modelscope SDK reads.</summary>
public class ModelScopeApiTests
{
    static readonly byte[] Weights = TestHub.Bytes(3000, seed: 8);
    static readonly byte[] Config = TestHub.Text("{}");

    static async Task<TestHub> HubAsync()
    {
        var hub = await TestHub.StartAsync();
        await hub.PushAsync("alice/tiny", new Dictionary<string, byte[]> { ["Q8_0/model.gguf"] = Weights, ["config.json"] = Config });
        return hub;
    }

    [Fact]
    public async Task File_listing_has_blobs_with_hashes_and_trees_and_master_means_main()
    {
        await using var hub = await HubAsync();
        var recursive = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/repo/files?Revision=master&Recursive=true"));
        Assert.Equal(200, (int)recursive["Code"]!);
        var files = recursive["Data"]!["Files"]!.AsArray();
        Assert.Equal(["Q8_0", "Q8_0/model.gguf", "config.json"], files.Select(f => (string)f!["Path"]!));
        var gguf = files.Single(f => (string)f!["Path"]! == "Q8_0/model.gguf")!;
        Assert.Equal("model.gguf", (string)gguf["Name"]!);
        Assert.Equal("blob", (string)gguf["Type"]!);
        Assert.Equal(Weights.Length, (long)gguf["Size"]!);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Weights)), (string)gguf["Sha256"]!);
        Assert.Equal("tree", (string)files[0]!["Type"]!);

        var top = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/repo/files?Revision=master"));
        Assert.Equal(["Q8_0", "config.json"], top["Data"]!["Files"]!.AsArray().Select(f => (string)f!["Path"]!));
        var folder = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/repo/files?Root=Q8_0"));
        Assert.Equal(["Q8_0/model.gguf"], folder["Data"]!["Files"]!.AsArray().Select(f => (string)f!["Path"]!));
    }

    [Fact]
    public async Task File_content_is_served_by_query_with_ranges()
    {
        await using var hub = await HubAsync();
        Assert.Equal(Weights, await hub.Anonymous.GetByteArrayAsync("api/v1/models/alice/tiny/repo?Revision=master&FilePath=Q8_0%2Fmodel.gguf"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/models/alice/tiny/repo?FilePath=Q8_0/model.gguf");
        request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(100, 199);
        using var partial = await hub.Anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(Weights[100..200], await partial.Content.ReadAsByteArrayAsync());

        using var missing = await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/repo?FilePath=nope.bin");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var noPath = await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/repo");
        Assert.Equal(HttpStatusCode.BadRequest, noPath.StatusCode);
        using var badRevision = await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/repo/files?Revision=v9");
        Assert.Equal(HttpStatusCode.NotFound, badRevision.StatusCode);
        Assert.Contains("v9", await badRevision.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Revisions_list_branches_and_tags()
    {
        await using var hub = await HubAsync();
        (await hub.Alice.PostAsync("api/models/alice/tiny/tag/main", new StringContent("""{"tag": "v1"}""", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        var revisions = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/v1/models/alice/tiny/revisions"));
        Assert.Equal(["main"], revisions["Data"]!["RevisionMap"]!["Branches"]!.AsArray().Select(b => (string)b!["Revision"]!));
        Assert.Equal(["v1"], revisions["Data"]!["RevisionMap"]!["Tags"]!.AsArray().Select(b => (string)b!["Revision"]!));
    }
}

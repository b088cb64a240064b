using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace ModelGrid.Hub.Tests;

public class LineageAndSearchTests
{
    static byte[] Card(string frontMatter) => TestHub.Text($"---\n{frontMatter}\n---\n# Model\n");

    /// <summary>A real safetensors file: 8-byte header length, JSON header, then the tensor bytes.</summary>
    static byte[] Safetensors(params (string Name, string Dtype, long[] Shape, int ElementBytes)[] tensors)
    {
        var header = new JsonObject();
        long offset = 0;
        foreach (var (name, dtype, shape, elementBytes) in tensors)
        {
            var bytes = shape.Aggregate(1L, (a, b) => a * b) * elementBytes;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray([.. shape.Select(s => (JsonNode)s)]),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var file = new byte[8 + json.Length + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        return file;
    }

    static async Task<TestHub> FamilyAsync(HubStoreKind kind)
    {
        var hub = await TestHub.StartAsync(kind);
        await hub.PushAsync("acme/base", new Dictionary<string, byte[]>
        {
            ["README.md"] = Card("license: apache-2.0\npipeline_tag: text-generation\nlanguage: [en, zh]"),
            ["config.json"] = TestHub.Text("""{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"}"""),
            ["model.safetensors"] = Safetensors(("embed", "BF16", [16, 8], 2), ("norm", "F32", [8], 4)),
        });
        await hub.PushAsync("alice/chat", new Dictionary<string, byte[]>
        {
            ["README.md"] = Card("license: mit\nbase_model: acme/base\ntags: [chat]"),
            ["model.safetensors"] = Safetensors(("w", "F16", [4, 4], 2)),
            ["config.json"] = TestHub.Text("""{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"}"""),
        });
        await hub.PushAsync("alice/chat-gguf", new Dictionary<string, byte[]>
        {
            ["README.md"] = Card("base_model: alice/chat"),
            ["chat-Q8_0.gguf"] = TestHub.Bytes(64, seed: 9),
        });
        await hub.PushAsync("alice/chat-lora", new Dictionary<string, byte[]>
        {
            ["README.md"] = Card("base_model:\n- alice/chat\nbase_model_relation: adapter"),
            ["adapter_config.json"] = TestHub.Text("{}"),
        });
        await hub.PushAsync("acme/merged", new Dictionary<string, byte[]>
        {
            ["README.md"] = Card("base_model: [acme/base, alice/chat]"),
        });
        return hub;
    }

    static async Task<List<(string Id, string Relation, int Depth)>> LineageAsync(TestHub hub, string repo, string direction)
    {
        var edges = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync($"api/models/{repo}/lineage?direction={direction}"))).AsArray();
        return [.. edges.Select(e => ((string)e!["id"]!, (string)e["relation"]!, (int)e["depth"]!))];
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Descendants_are_found_transitively_with_relation_types(HubStoreKind kind)
    {
        await using var hub = await FamilyAsync(kind);
        var descendants = await LineageAsync(hub, "acme/base", "descendants");
        Assert.Equal(
            [("acme/merged", "merge", 1), ("alice/chat", "finetune", 1), ("alice/chat-gguf", "quantized", 2), ("alice/chat-lora", "adapter", 2)],
            descendants);
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Lineage_pages_follow_the_link_header_through_every_edge(HubStoreKind kind)
    {
        await using var hub = await FamilyAsync(kind);
        var all = await LineageAsync(hub, "acme/base", "descendants");
        var paged = new List<string>();
        string? url = "api/models/acme/base/lineage?direction=descendants&limit=3";
        var pages = 0;
        while (url is not null)
        {
            using var response = await hub.Anonymous.GetAsync(url);
            var page = (await TestHub.JsonAsync(response)).AsArray();
            Assert.InRange(page.Count, 1, 3);
            paged.AddRange(page.Select(e => (string)e!["id"]!));
            pages++;
            url = response.Headers.TryGetValues("Link", out var links) ? links.Single()[1..links.Single().IndexOf('>')] : null;
        }
        Assert.Equal(2, pages);
        Assert.Equal(all.Select(e => e.Id), paged);
        using var bad = await hub.Anonymous.GetAsync("api/models/acme/base/lineage?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("limit", await bad.Content.ReadAsStringAsync());
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Ancestry_walks_up_to_the_root(HubStoreKind kind)
    {
        await using var hub = await FamilyAsync(kind);
        Assert.Equal([("alice/chat", "quantized", 1), ("acme/base", "finetune", 2)], await LineageAsync(hub, "alice/chat-gguf", "ancestors"));
        Assert.Empty(await LineageAsync(hub, "acme/base", "ancestors"));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Model_info_carries_card_config_and_parameter_counts(HubStoreKind kind)
    {
        await using var hub = await FamilyAsync(kind);
        var info = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/acme/base"));
        Assert.Equal("apache-2.0", (string)info["cardData"]!["license"]!);
        Assert.Equal("text-generation", (string)info["pipeline_tag"]!);
        Assert.Equal("Qwen3ForCausalLM", (string)info["config"]!["architectures"]![0]!);
        Assert.Equal(16 * 8 + 8, (long)info["safetensors"]!["total"]!);
        Assert.Equal(128, (long)info["safetensors"]!["parameters"]!["BF16"]!);
        var tags = info["tags"]!.AsArray().Select(t => (string)t!).ToList();
        Assert.Contains("license:apache-2.0", tags);
        Assert.Contains("qwen3", tags);
        Assert.Contains("zh", tags);
        Assert.Contains("safetensors", tags);
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Search_filters_by_text_author_tag_library_and_base_model(HubStoreKind kind)
    {
        await using var hub = await FamilyAsync(kind);
        async Task<List<string>> Ids(string query) =>
            [.. (await TestHub.JsonAsync(await hub.Anonymous.GetAsync($"api/models?{query}&sort=id&direction=1"))).AsArray().Select(m => (string)m!["id"]!)];

        Assert.Equal(["alice/chat", "alice/chat-gguf", "alice/chat-lora"], await Ids("search=chat"));
        Assert.Equal(["alice/chat-gguf"], await Ids("search=CHAT-G"));
        Assert.Equal(["alice/chat-lora"], await Ids("search=t-l"));
        Assert.Equal(["acme/base", "acme/merged"], await Ids("search=me/"));
        Assert.Empty(await Ids("search=%22chat%22"));
        Assert.Empty(await Ids("search=c_at"));
        Assert.Equal(["acme/base", "acme/merged"], await Ids("author=acme"));
        Assert.Equal(["alice/chat-gguf"], await Ids("filter=gguf"));
        Assert.Equal(["acme/base", "alice/chat"], await Ids("library=transformers"));
        Assert.Equal(["alice/chat"], await Ids("filter=qwen3&filter=license:mit"));
        Assert.Equal(["alice/chat-gguf"], await Ids("filter=base_model:quantized:alice/chat"));
        Assert.Equal(["acme/merged", "alice/chat"], await Ids("base_model=acme/base"));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Listing_sorts_by_likes_and_pages_with_link_headers(HubStoreKind kind)
    {
        await using var hub = await FamilyAsync(kind);
        (await hub.Alice.PostAsync("api/models/alice/chat-lora/like", null)).EnsureSuccessStatusCode();
        (await hub.Bob.PostAsync("api/models/alice/chat-lora/like", null)).EnsureSuccessStatusCode();
        (await hub.Bob.PostAsync("api/models/acme/merged/like", null)).EnsureSuccessStatusCode();

        using var first = await hub.Anonymous.GetAsync("api/models?sort=likes&limit=2");
        var page = (await TestHub.JsonAsync(first)).AsArray();
        Assert.Equal(["alice/chat-lora", "acme/merged"], page.Select(m => (string)m!["id"]!));
        Assert.Equal(2, (long)page[0]!["likes"]!);
        var seen = page.Select(m => (string)m!["id"]!).ToList();
        for (var response = first; response.Headers.TryGetValues("Link", out var links);)
        {
            var link = links.Single();
            response = await hub.Anonymous.GetAsync(link[1..link.IndexOf('>')]);
            seen.AddRange((await TestHub.JsonAsync(response)).AsArray().Select(m => (string)m!["id"]!));
        }
        Assert.Equal(5, seen.Count);
        Assert.Equal(5, seen.Distinct().Count());
    }

    [Fact]
    public async Task Invalid_card_metadata_is_refused()
    {
        await using var hub = await TestHub.StartAsync();
        var client = hub.ClientFor(hub.AliceToken);
        var dir = Path.Combine(hub.DataDir, "bad-card");
        Directory.CreateDirectory(dir);
        await File.WriteAllBytesAsync(Path.Combine(dir, "README.md"), Card("base_model: acme/base\nbase_model_relation: cousin"));
        var name = ModelGrid.Hub.Repos.RepoName.Parse("alice/bad");
        await client.CreateRepoAsync(name, false, CancellationToken.None);

        var error = await Assert.ThrowsAsync<ModelGrid.Hub.Client.HubClientException>(
            () => client.PushDirectoryAsync(dir, name, "bad card", "main", null, CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadRequest, error.Status);
        Assert.Contains("base_model_relation 'cousin'", error.Message);
    }
}

using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Tests;

namespace ModelGrid.Hub.Tests;

public class GgufMetadataTests
{
    static string FirstGoldenGguf() =>
        Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Order(StringComparer.Ordinal).FirstOrDefault()
            ?? throw new InvalidOperationException($"No .gguf file in {Golden.Path("models")}");

    [Theory, ClassData(typeof(AllStores))]
    public async Task Model_info_carries_the_gguf_header_and_listing_filters_by_its_architecture(HubStoreKind kind)
    {
        var path = FirstGoldenGguf();
        // What the engine's reader sees in the header is what the hub must report.
        using var reference = GgufFile.Open(path);
        var architecture = reference.Architecture;
        var expectedTypes = reference.Tensors.GroupBy(t => t.Type.ToString()).ToDictionary(g => g.Key, g => g.Sum(t => t.ElementCount));
        var contextLength = reference.Metadata.TryGetInteger($"{architecture}.context_length");

        await using var hub = await TestHub.StartAsync(kind);
        await hub.PushAsync("alice/tiny-GGUF", new Dictionary<string, byte[]>
        {
            [Path.GetFileName(path)] = await File.ReadAllBytesAsync(path),
            ["README.md"] = TestHub.Text("---\nlicense: mit\n---\n"),
        });
        await hub.PushAsync("alice/not-really-gguf", new Dictionary<string, byte[]> { ["broken.gguf"] = TestHub.Bytes(100, seed: 4) });

        var info = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/tiny-GGUF"));
        var gguf = info["gguf"]!;
        Assert.Equal(architecture, (string)gguf["architecture"]!);
        Assert.Equal(expectedTypes.Values.Sum(), (long)gguf["total"]!);
        Assert.Equal(contextLength, (long?)gguf["context_length"]);
        Assert.Equal(expectedTypes, gguf["parameters"]!.AsObject().ToDictionary(p => p.Key, p => (long)p.Value!));
        Assert.Null(info["safetensors"]);

        var broken = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/alice/not-really-gguf"));
        Assert.Null(broken["gguf"]);

        foreach (var query in new[] { $"filter={architecture}", $"model_type={architecture}" })
        {
            var found = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync($"api/models?{query}"))).AsArray();
            Assert.Equal(["alice/tiny-GGUF"], found.Select(m => (string)m!["id"]!));
        }
        var bySize = (await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models?sort=num_parameters&limit=1"))).AsArray();
        Assert.Equal("alice/tiny-GGUF", (string)bySize.Single()!["id"]!);
    }
}

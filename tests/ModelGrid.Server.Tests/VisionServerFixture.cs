using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Tests;
using OpenAI;

namespace ModelGrid.Server.Tests;

/// <summary>A vision model of the golden set with its projector and the images its cases use.</summary>
public sealed record VisionModel(string Name, LanguageModel Model, IReadOnlyList<string> Images);

/// <summary>
/// A server on a free loopback port over every vision model of golden/vision (found from its expected/*.json: model,
/// mmproj, image) and one text-only model, shared by a test class.
/// </summary>
public sealed class VisionServerFixture : IAsyncLifetime
{
    readonly List<LanguageModel> _loaded = [];

    public IReadOnlyList<VisionModel> Models { get; private set; } = [];
    public LanguageModel TextModel { get; private set; } = null!;
    public string TextModelName { get; private set; } = "";
    public ModelServer Server { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };
    public OpenAIClient OpenAI { get; private set; } = null!;

    public static IEnumerable<(string Model, string Projector, string[] Images)> Cases() =>
        Directory.GetFiles(Golden.Path("vision", "expected"), "*.json").Order(StringComparer.Ordinal)
            .Select(file => JsonNode.Parse(File.ReadAllText(file))!)
            .Where(json => json["mmproj"] is not null)
            .GroupBy(json => ((string)json["model"]!, (string)json["mmproj"]!))
            .Select(group => (Golden.Path("vision", "models", group.Key.Item1), Golden.Path("vision", "models", group.Key.Item2),
                group.Select(json => Golden.Path("vision", "images", (string)json["image"]!)).Distinct().ToArray()));

    public static string MediaType(string imagePath) =>
        Path.GetExtension(imagePath).ToLowerInvariant() switch { ".jpg" or ".jpeg" => "image/jpeg", var ext => "image/" + ext.TrimStart('.') };

    public async Task InitializeAsync()
    {
        var served = new List<(string, LanguageModel)>();
        var models = new List<VisionModel>();
        foreach (var (path, projector, images) in Cases())
        {
            var model = LanguageModel.Load(path, new ModelOptions { Threads = 2, ContextLength = ServerFixture.ContextLength, MultimodalProjector = projector });
            _loaded.Add(model);
            models.Add(new VisionModel(TestModels.Name(path), model, images));
            served.Add((TestModels.Name(path), model));
        }
        Models = models;
        string text = TestModels.AttentionOnly();
        TextModel = LanguageModel.Load(text, new ModelOptions { Threads = 2, ContextLength = ServerFixture.ContextLength, MultimodalProjector = "" });
        _loaded.Add(TextModel);
        TextModelName = TestModels.Name(text);
        served.Add((TextModelName, TextModel));
        Server = await ModelServer.StartAsync(ServerFixture.Options(), served);
        Http.BaseAddress = new Uri(Server.Url);
        OpenAI = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(Server.Url + "/v1") });
    }

    public async Task<(int Status, JsonObject Body)> PostAsync(string path, JsonObject body)
    {
        using var response = await Http.PostAsJsonAsync(path, body);
        return ((int)response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var model in _loaded)
            model.Dispose();
        Http.Dispose();
    }
}

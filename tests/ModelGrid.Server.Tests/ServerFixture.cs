using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Models;
using OpenAI;

namespace ModelGrid.Server.Tests;

/// <summary>A server on a free loopback port over the test models, shared by a test class.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const int ContextLength = 1024;

    readonly List<LanguageModel> _models = [];

    public ModelServer Server { get; private set; } = null!;
    public LanguageModel Model => _models[0];
    public string ModelName { get; private set; } = "";
    public LanguageModel? RecurrentModel { get; private set; }
    public string? RecurrentName { get; private set; }
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };
    public OpenAIClient OpenAI { get; private set; } = null!;

    /// <summary>Small prefill chunks and fewer slots than the concurrency tests use, so joining and chunking both happen.</summary>
    public static ServerOptions Options(int parallel = 4) => new()
    {
        Models = [],
        Url = "http://127.0.0.1:0",
        ContextLength = ContextLength,
        Parallel = parallel,
        Threads = 2,
        PrefillTokensPerStep = 16,
        MaxRequestBodyBytes = 1 << 20,
    };

    public async Task InitializeAsync()
    {
        var attention = TestModels.AttentionOnly();
        var served = new List<(string, LanguageModel)>();
        _models.Add(LanguageModel.Load(attention, new ModelOptions { Threads = 2, ContextLength = ContextLength }));
        ModelName = TestModels.Name(attention);
        served.Add((ModelName, Model));
        if (TestModels.Recurrent() is { } recurrent)
        {
            RecurrentModel = LanguageModel.Load(recurrent, new ModelOptions { Threads = 2, ContextLength = ContextLength });
            _models.Add(RecurrentModel);
            RecurrentName = TestModels.Name(recurrent);
            served.Add((RecurrentName, RecurrentModel));
        }
        Server = await ModelServer.StartAsync(Options(), served);
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
        foreach (var model in _models)
            model.Dispose();
        Http.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

using System.Text.Json;
using Microsoft.Extensions.AI;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Server.Chat;

namespace ModelGrid.Server.Tests;

/// <summary>The in-process <see cref="IChatClient"/>: same pipeline as HTTP, no server.</summary>
public sealed class InProcessChatClientTests : IDisposable
{
    readonly LanguageModel _model = LanguageModel.Load(TestModels.AttentionOnly(), new ModelOptions { Threads = 2, ContextLength = 1024 });
    readonly ModelGridChatClient _client;

    public InProcessChatClientTests() => _client = new ModelGridChatClient(_model);

    public void Dispose()
    {
        _client.Dispose();
        _model.Dispose();
    }

    [Fact]
    public async Task Greedy_replies_equal_the_engine_also_when_concurrent()
    {
        string[] questions = ["Hi there", "What is 2+2?", "Name a fruit", "Say something"];
        var expected = await Task.WhenAll(questions.Select(q => TestModels.EngineGreedyAsync(_model, ChatPrompt.Encode(_model, TestModels.UserMessage(q)).Ids, 12)));
        var replies = await Task.WhenAll(questions.Select(q => _client.GetResponseAsync(q, new ChatOptions { Temperature = 0, MaxOutputTokens = 12 })));
        Assert.Equal(expected, replies.Select(r => r.Text));
        Assert.All(replies, r => Assert.True(r.Usage?.OutputTokenCount is > 0 and <= 12));
        Assert.Equal("modelgrid", _client.GetService<ChatClientMetadata>()?.ProviderName);
    }

    [Fact]
    public async Task A_required_function_is_called_and_its_result_accepted()
    {
        var function = AIFunctionFactory.Create((string city, int days) => $"sunny in {city} for {days} days", "get_forecast", "Weather forecast");
        // The schema leaves the city's length open and a random model never closes a string: favour the closing quote.
        string quote = Assert.Single(_model.Tokenizer.Encode("\"", parseSpecialTokens: false)).ToString();
        var options = new ChatOptions
        {
            Temperature = 0,
            MaxOutputTokens = 150,
            Tools = [function],
            ToolMode = ChatToolMode.RequireSpecific("get_forecast"),
            AdditionalProperties = new() { ["logit_bias"] = new Dictionary<string, int> { [quote] = 30 } },
        };
        List<ChatMessage> conversation = [new(ChatRole.User, "Weather in Oslo?")];

        var response = await _client.GetResponseAsync(conversation, options);

        Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_forecast", call.Name);
        Assert.Equal(JsonValueKind.String, ((JsonElement)call.Arguments!["city"]!).ValueKind);
        Assert.Equal(JsonValueKind.Number, ((JsonElement)call.Arguments!["days"]!).ValueKind);

        conversation.AddRange(response.Messages);
        conversation.Add(new ChatMessage(ChatRole.Tool, [new FunctionResultContent(call.CallId, "sunny")]));
        var answer = await _client.GetResponseAsync(conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 8, Tools = [function] });
        Assert.True(answer.Usage!.InputTokenCount > response.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task A_json_schema_response_format_yields_valid_json()
    {
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"}},"required":["ok","n"]}""").RootElement;
        var response = await _client.GetResponseAsync("Answer in JSON", new ChatOptions
        {
            Temperature = 0.8f,
            Seed = 3,
            MaxOutputTokens = 60,
            ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "answer"),
        });
        using var parsed = JsonDocument.Parse(response.Text);
        Assert.True(parsed.RootElement.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
        Assert.True(parsed.RootElement.GetProperty("n").TryGetInt64(out _));
    }
}

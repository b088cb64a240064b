using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using ModelGrid.Engine;
using ModelGrid.Server.Hosting;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Chat;

/// <summary>
/// <see cref="IChatClient"/> over an in-process model: the same chat pipeline as the HTTP server (template,
/// continuous-batching scheduler, tool-call and reasoning parsing, constrained decoding) without HTTP. Concurrent
/// calls share the batch. Disposing the client stops its scheduler; the model stays the caller's.
/// </summary>
public sealed class ModelGridChatClient : IChatClient
{
    readonly ServedModel _model;
    readonly ModelCatalog _catalog;
    readonly ImageLoader _images;

    /// <param name="imageOptions">Limits for images (<see cref="DataContent"/>, or <see cref="UriContent"/> when remote images are allowed).</param>
    public ModelGridChatClient(LanguageModel model, SchedulerOptions? options = null, string? name = null, ImageInputOptions? imageOptions = null)
    {
        _images = new ImageLoader(imageOptions ?? new ImageInputOptions());
        string modelName = name ?? new ModelSpec(model.Path).Name;
        _model = new ServedModel(modelName, model, new Scheduler(model, options ?? new SchedulerOptions()), ownsModel: false);
        _catalog = new ModelCatalog([_model]);
        Metadata = new ChatClientMetadata("modelgrid", defaultModelId: modelName);
    }

    public ChatClientMetadata Metadata { get; }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var plan = await ChatCompletion.PrepareAsync(_catalog, Request(messages, options), _images, cancellationToken);
        string responseId = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        int completionTokens = 0;
        await foreach (var update in ChatCompletion.RunAsync(plan, cancellationToken))
        {
            if (update.Token.TokenId is not null)
                completionTokens++;
            var contents = new List<AIContent>();
            foreach (var delta in update.Deltas)
                contents.Add(delta switch
                {
                    ContentDelta text => new TextContent(text.Text),
                    ReasoningDelta reasoning => new TextReasoningContent(reasoning.Text),
                    ToolCallDelta call => new FunctionCallContent(call.Id, call.Call.Name, Arguments(call.Call.Arguments)),
                    _ => throw new InvalidOperationException($"unexpected delta {delta.GetType().Name}"),
                });
            if (update.FinishReason is { } finish)
                contents.Add(new UsageContent(new UsageDetails
                {
                    InputTokenCount = plan.PromptTokens,
                    OutputTokenCount = completionTokens,
                    TotalTokenCount = plan.PromptTokens + completionTokens,
                    CachedInputTokenCount = update.Token.CachedPromptTokens,
                }));
            if (contents.Count == 0)
                continue;
            yield return new ChatResponseUpdate(ChatRole.Assistant, contents)
            {
                ResponseId = responseId,
                MessageId = responseId,
                ModelId = _model.Name,
                CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = update.FinishReason switch
                {
                    null => null,
                    "tool_calls" => ChatFinishReason.ToolCalls,
                    "length" => ChatFinishReason.Length,
                    _ => ChatFinishReason.Stop,
                },
            };
        }
    }

    /// <summary>The OpenAI-style request body the chat pipeline validates.</summary>
    JsonObject Request(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var json = new JsonArray();
        if (options?.Instructions is { Length: > 0 } instructions)
            json.Add(new JsonObject { ["role"] = "system", ["content"] = instructions });
        foreach (var message in messages)
            foreach (var item in Messages(message))
                json.Add(item);
        var body = new JsonObject { ["model"] = _model.Name, ["messages"] = json };
        if (options is null)
            return body;
        if (options.Temperature is { } temperature) body["temperature"] = temperature;
        if (options.TopP is { } topP) body["top_p"] = topP;
        if (options.TopK is { } topK) body["top_k"] = topK;
        if (options.MaxOutputTokens is { } maxTokens) body["max_tokens"] = maxTokens;
        if (options.PresencePenalty is { } presence) body["presence_penalty"] = presence;
        if (options.FrequencyPenalty is { } frequency) body["frequency_penalty"] = frequency;
        if (options.Seed is { } seed) body["seed"] = seed;
        if (options.StopSequences is { Count: > 0 } stops) body["stop"] = new JsonArray([.. stops.Select(s => (JsonNode)s)]);
        if (options.AllowMultipleToolCalls is { } parallel) body["parallel_tool_calls"] = parallel;
        switch (options.ResponseFormat)
        {
            case ChatResponseFormatJson { Schema: { } schema } format:
                body["response_format"] = new JsonObject
                {
                    ["type"] = "json_schema",
                    ["json_schema"] = new JsonObject { ["name"] = format.SchemaName ?? "response", ["schema"] = JsonNode.Parse(schema.GetRawText()), ["strict"] = true },
                };
                break;
            case ChatResponseFormatJson:
                body["response_format"] = new JsonObject { ["type"] = "json_object" };
                break;
        }
        var tools = options.Tools?.OfType<AIFunctionDeclaration>().ToList() ?? [];
        if (tools.Count > 0)
            body["tools"] = new JsonArray([.. tools.Select(tool => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = tool.Name,
                    ["description"] = tool.Description,
                    ["parameters"] = JsonNode.Parse(tool.JsonSchema.GetRawText()),
                },
            })]);
        body["tool_choice"] = options.ToolMode switch
        {
            NoneChatToolMode => "none",
            RequiredChatToolMode { RequiredFunctionName: { } name } => new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name } },
            RequiredChatToolMode => "required",
            _ => tools.Count > 0 ? "auto" : "none",
        };
        if (options.AdditionalProperties is { } extra)
            foreach (var (key, value) in extra)
                body[key] = JsonSerializer.SerializeToNode(value, AIJsonUtilities.DefaultOptions);
        return body;
    }

    static IEnumerable<JsonObject> Messages(ChatMessage message)
    {
        if (message.Role == ChatRole.Tool)
        {
            foreach (var result in message.Contents.OfType<FunctionResultContent>())
                yield return new JsonObject
                {
                    ["role"] = "tool",
                    ["tool_call_id"] = result.CallId,
                    ["content"] = result.Result as string ?? JsonSerializer.Serialize(result.Result, AIJsonUtilities.DefaultOptions),
                };
            yield break;
        }
        var json = new JsonObject { ["role"] = message.Role.Value, ["content"] = Content(message) };
        if (message.Contents.OfType<TextReasoningContent>().Select(r => r.Text).ToList() is { Count: > 0 } reasoning)
            json["reasoning_content"] = string.Concat(reasoning);
        var calls = message.Contents.OfType<FunctionCallContent>().ToList();
        if (calls.Count > 0)
            json["tool_calls"] = new JsonArray([.. calls.Select(call => (JsonNode)new JsonObject
            {
                ["id"] = call.CallId,
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = call.Name,
                    ["arguments"] = JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions),
                },
            })]);
        yield return json;
    }

    /// <summary>The message's text, or with images, OpenAI content parts in order: text and <c>image_url</c> (data: URLs for <see cref="DataContent"/>).</summary>
    static JsonNode Content(ChatMessage message)
    {
        static bool IsImage(AIContent content) =>
            content is DataContent data && data.HasTopLevelMediaType("image") || content is UriContent uri && uri.HasTopLevelMediaType("image");
        if (!message.Contents.Any(IsImage))
            return string.Concat(message.Contents.OfType<TextContent>().Select(t => t.Text));
        var parts = new JsonArray();
        foreach (var content in message.Contents)
        {
            string? url = content switch
            {
                DataContent data when IsImage(data) => data.Uri,
                UriContent uri when IsImage(uri) => uri.Uri.ToString(),
                _ => null,
            };
            if (url is not null)
                parts.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = url } });
            else if (content is TextContent text)
                parts.Add(new JsonObject { ["type"] = "text", ["text"] = text.Text });
        }
        return parts;
    }

    static Dictionary<string, object?> Arguments(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
        _model.Dispose();
        _images.Dispose();
    }
}

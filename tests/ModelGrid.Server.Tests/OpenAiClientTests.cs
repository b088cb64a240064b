using System.ClientModel;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Net.Http.Json;
using Microsoft.Extensions.AI;
using ModelGrid.Engine.Generation;
using NJsonSchema;
using OpenAI.Chat;
using OpenAI.Embeddings;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ChatResponseFormat = OpenAI.Chat.ChatResponseFormat;

namespace ModelGrid.Server.Tests;

/// <summary>The server through the official OpenAI .NET SDK and Microsoft.Extensions.AI's OpenAI client.</summary>
[Collection(ServerCollection.Name)]
public sealed class OpenAiClientTests(ServerFixture fixture)
{
    static readonly string[] Questions =
    [
        "Hello", "What is the capital of France?", "Write a haiku about the sea.", "List three prime numbers.",
        "Translate 'good morning' to German.", "Why is the sky blue?", "def fib(n):", "Summarize the plot of Hamlet in one line.",
    ];

    ChatClient Chat(string? model = null) => fixture.OpenAI.GetChatClient(model ?? fixture.ModelName);

    async Task<string> EngineChatGreedyAsync(Engine.LanguageModel model, string question, int maxTokens) =>
        await TestModels.EngineGreedyAsync(model, ChatPrompt.Encode(model, TestModels.UserMessage(question)).Ids, maxTokens);

    [Fact]
    public async Task Greedy_chat_over_http_equals_the_engines_greedy_output()
    {
        var completion = (await Chat().CompleteChatAsync([new UserChatMessage(Questions[1])],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 })).Value;

        Assert.Equal(await EngineChatGreedyAsync(fixture.Model, Questions[1], 24), completion.Content[0].Text);
        Assert.Equal(ChatPrompt.Encode(fixture.Model, TestModels.UserMessage(Questions[1])).Ids.Length, completion.Usage.InputTokenCount);
        Assert.True(completion.Usage.OutputTokenCount is > 0 and <= 24);
    }

    [Fact]
    public async Task Eight_concurrent_greedy_chats_each_equal_the_engines_output()
    {
        // More requests than batch slots: some wait, join between steps, and prefill in chunks beside running decodes.
        var expected = await Task.WhenAll(Questions.Select((q, i) => EngineChatGreedyAsync(fixture.Model, q, 12 + 3 * i)));
        for (int round = 0; round < 2; round++) // the second round starts from cached prefixes
        {
            var replies = await Task.WhenAll(Questions.Select(async (q, i) => (await Chat().CompleteChatAsync([new UserChatMessage(q)],
                new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 + 3 * i })).Value));
            for (int i = 0; i < Questions.Length; i++)
                Assert.Equal(expected[i], replies[i].Content[0].Text);
        }
    }

    [Fact]
    public async Task Eight_concurrent_greedy_completions_equal_the_engine_on_every_test_model()
    {
        foreach (var (model, name) in Models())
        {
            var prompts = Questions.Select(q => ChatPrompt.Encode(model, TestModels.UserMessage(q)).Ids).ToArray();
            var expected = await Task.WhenAll(prompts.Select((p, i) => TestModels.EngineGreedyAsync(model, p, 10 + 4 * i)));
            var replies = await Task.WhenAll(prompts.Select((p, i) => fixture.PostAsync("/v1/completions", new JsonObject
            {
                ["model"] = name,
                ["prompt"] = new JsonArray([.. p.Select(id => (JsonNode)id)]),
                ["max_tokens"] = 10 + 4 * i,
                ["temperature"] = 0,
                ["stream"] = false,
            })));
            for (int i = 0; i < prompts.Length; i++)
            {
                Assert.Equal(200, replies[i].Status);
                Assert.Equal(expected[i], (string)replies[i].Body["choices"]![0]!["text"]!);
            }
        }
    }

    [Fact]
    public async Task A_second_turn_reuses_the_cached_prefix_and_still_matches_the_engine()
    {
        var first = (await Chat().CompleteChatAsync([new SystemChatMessage("You are terse."), new UserChatMessage("Name a color.")],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8 })).Value;
        List<OpenAI.Chat.ChatMessage> conversation = [new SystemChatMessage("You are terse."), new UserChatMessage("Name a color."),
            new AssistantChatMessage(first.Content[0].Text), new UserChatMessage("Another one.")];
        var second = (await Chat().CompleteChatAsync(conversation, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8 })).Value;

        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount > 0);
        var messages = new JsonArray(
            new JsonObject { ["role"] = "system", ["content"] = "You are terse." },
            new JsonObject { ["role"] = "user", ["content"] = "Name a color." },
            new JsonObject { ["role"] = "assistant", ["content"] = first.Content[0].Text },
            new JsonObject { ["role"] = "user", ["content"] = "Another one." });
        Assert.Equal(await TestModels.EngineGreedyAsync(fixture.Model, ChatPrompt.Encode(fixture.Model, messages).Ids, 8), second.Content[0].Text);
    }

    [Fact]
    public async Task Streaming_yields_the_same_text_and_a_usage_chunk()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        var whole = (await Chat().CompleteChatAsync([new UserChatMessage(Questions[2])], options)).Value;
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (var update in Chat().CompleteChatStreamingAsync([new UserChatMessage(Questions[2])], options))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            usage = update.Usage ?? usage;
            finish = update.FinishReason ?? finish;
        }
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.True(updates > 2);
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task A_named_tool_choice_returns_a_parsed_call_and_the_result_can_be_sent_back()
    {
        var tool = ChatTool.CreateFunctionTool("get_weather", "Current weather in a city", BinaryData.FromString("""
            {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}, "days": {"type": "integer"}}, "required": ["city", "days"]}
            """));
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 120, Tools = { tool }, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather") };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("What is the weather in Paris?")];

        var call = (await Chat().CompleteChatAsync(messages, options)).Value;

        Assert.Equal(ChatFinishReason.ToolCalls, call.FinishReason);
        var toolCall = Assert.Single(call.ToolCalls);
        Assert.Equal("get_weather", toolCall.FunctionName);
        using var arguments = JsonDocument.Parse(toolCall.FunctionArguments);
        Assert.Equal(JsonValueKind.String, arguments.RootElement.GetProperty("city").ValueKind);
        Assert.Equal(JsonValueKind.Number, arguments.RootElement.GetProperty("days").ValueKind);

        messages.Add(new AssistantChatMessage(call));
        messages.Add(new ToolChatMessage(toolCall.Id, """{"temperature_c": 21, "sky": "clear"}"""));
        var answer = (await Chat().CompleteChatAsync(messages, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10, Tools = { tool } })).Value;

        // The call and its result were rendered into the prompt of the follow-up turn.
        Assert.True(answer.Usage.InputTokenCount > call.Usage.InputTokenCount + 10);
        Assert.True(answer.Usage.OutputTokenCount > 0);
    }

    [Fact]
    public async Task A_required_tool_choice_streams_the_call_as_a_tool_call_delta()
    {
        var tools = new[]
        {
            ChatTool.CreateFunctionTool("add", "Adds", BinaryData.FromString("""{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}""")),
            ChatTool.CreateFunctionTool("echo", "Echoes", BinaryData.FromString("""{"type":"object","properties":{"text":{"type":"string","maxLength":10}},"required":["text"]}""")),
        };
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 120, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        foreach (var tool in tools)
            options.Tools.Add(tool);
        string? name = null;
        var arguments = new StringBuilder();
        await foreach (var update in Chat().CompleteChatStreamingAsync([new UserChatMessage("Add 2 and 3")], options))
            foreach (var call in update.ToolCallUpdates)
            {
                name ??= call.FunctionName;
                arguments.Append(call.FunctionArgumentsUpdate?.ToString());
            }
        Assert.Contains(name, new[] { "add", "echo" });
        using var parsed = JsonDocument.Parse(arguments.ToString());
        Assert.Equal(JsonValueKind.Object, parsed.RootElement.ValueKind);
    }

    [Fact]
    public async Task Json_schema_output_parses_and_validates_whatever_the_model_samples()
    {
        const string schemaText = """
            {"type": "object",
             "properties": {
               "name": {"type": "string", "maxLength": 16},
               "age": {"type": "integer"},
               "score": {"type": "number"},
               "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "maxItems": 3},
               "active": {"type": "boolean"},
               "nickname": {"type": ["string", "null"], "maxLength": 8}
             },
             "required": ["name", "age", "score", "tags", "active", "nickname"],
             "additionalProperties": false}
            """;
        var schema = await JsonSchema.FromJsonAsync(schemaText);
        foreach (float temperature in new[] { 0f, 1f })
        {
            var options = new ChatCompletionOptions
            {
                Temperature = temperature,
                MaxOutputTokenCount = 300,
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(schemaText), jsonSchemaIsStrict: true),
            };
            var reply = (await Chat().CompleteChatAsync([new UserChatMessage("Describe a person as JSON.")], options)).Value;
            string json = reply.Content[0].Text;
            Assert.Equal(ChatFinishReason.Stop, reply.FinishReason);
            Assert.Empty(schema.Validate(json));
        }
    }

    [Fact]
    public async Task Json_object_output_is_a_json_object()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = fixture.ModelName,
            ["messages"] = TestModels.UserMessage("Give me JSON."),
            ["response_format"] = new JsonObject { ["type"] = "json_object" },
            ["temperature"] = 0,
            ["max_tokens"] = 200,
            // Free-form strings could run past max_tokens with a random model: favour closing quotes and braces
            // (where the grammar allows them) so that the object completes within the test's budget.
            ["logit_bias"] = new JsonObject { [Token("\"")] = 30, [Token("}")] = 20 },
        });
        Assert.Equal(200, status);
        Assert.Equal("stop", (string?)body["choices"]![0]!["finish_reason"]);
        Assert.IsType<JsonObject>(JsonNode.Parse((string)body["choices"]![0]!["message"]!["content"]!));

        string Token(string text) => Assert.Single(fixture.Model.Tokenizer.Encode(text, parseSpecialTokens: false)).ToString();
    }

    [Fact]
    public async Task Logit_bias_forces_a_token_and_logprobs_report_it()
    {
        var tokenizer = fixture.Model.Tokenizer;
        int forced = tokenizer.Encode(" banana", parseSpecialTokens: false)[^1];
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = fixture.ModelName,
            ["messages"] = TestModels.UserMessage("Hi"),
            ["max_tokens"] = 3,
            ["logit_bias"] = new JsonObject { [forced.ToString()] = 100 },
            ["logprobs"] = true,
            ["top_logprobs"] = 3,
        });
        Assert.Equal(200, status);
        var entries = body["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(3, entries.Count);
        foreach (var entry in entries)
        {
            Assert.Equal(tokenizer.Decode([forced]), (string)entry!["token"]!);
            Assert.Equal(3, entry["top_logprobs"]!.AsArray().Count);
            Assert.True((double)entry["logprob"]! <= 0);
        }
    }

    [Fact]
    public async Task N_choices_with_stop_strings_and_a_seed_are_reproducible()
    {
        JsonObject Request() => new()
        {
            ["model"] = fixture.ModelName,
            ["prompt"] = "Once upon a time",
            ["max_tokens"] = 16,
            ["temperature"] = 1.0,
            ["seed"] = 1234,
            ["n"] = 3,
            ["stop"] = new JsonArray("\n"),
        };
        var (status, first) = await fixture.PostAsync("/v1/completions", Request());
        var (_, second) = await fixture.PostAsync("/v1/completions", Request());
        Assert.Equal(200, status);
        var texts = first["choices"]!.AsArray().Select(c => (string)c!["text"]!).ToList();
        Assert.Equal(3, texts.Count);
        Assert.Equal(texts, second["choices"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.All(texts, t => Assert.DoesNotContain("\n", t));
        Assert.True((int)first["usage"]!["completion_tokens"]! > 0);
    }

    [Fact]
    public async Task Text_completion_greedy_equals_the_engine()
    {
        const string prompt = "<|im_start|>user\nCount to five.<|im_end|>\n<|im_start|>assistant\n";
        var (status, body) = await fixture.PostAsync("/v1/completions", new JsonObject
        {
            ["model"] = fixture.ModelName,
            ["prompt"] = prompt,
            ["max_tokens"] = 20,
            ["temperature"] = 0,
        });
        Assert.Equal(200, status);
        var ids = fixture.Model.Tokenizer.Encode(prompt, parseSpecialTokens: true);
        Assert.Equal(await TestModels.EngineGreedyAsync(fixture.Model, ids, 20), (string)body["choices"]![0]!["text"]!);
        Assert.Equal(ids.Length, (int)body["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task Microsoft_extensions_ai_chat_client_gets_the_engines_greedy_reply()
    {
        IChatClient client = Chat().AsIChatClient();
        var response = await client.GetResponseAsync(Questions[3], new ChatOptions { Temperature = 0, MaxOutputTokens = 16 });
        Assert.Equal(await EngineChatGreedyAsync(fixture.Model, Questions[3], 16), response.Text);
        Assert.NotNull(response.Usage);

        var streamed = new StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync(Questions[3], new ChatOptions { Temperature = 0, MaxOutputTokens = 16 }))
            streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }

    [Fact]
    public async Task Embeddings_are_unit_length_last_token_states()
    {
        var client = fixture.OpenAI.GetEmbeddingClient(fixture.ModelName);
        var embeddings = (await client.GenerateEmbeddingsAsync(["a cat sat on the mat", "a cat sat on the mat", "quantum chromodynamics"])).Value;
        var vectors = embeddings.Select(e => e.ToFloats().ToArray()).ToList();
        Assert.All(vectors, v => Assert.Equal(fixture.Model.Decoder.EmbeddingLength, v.Length));
        Assert.All(vectors, v => Assert.InRange(Math.Sqrt(v.Sum(x => (double)x * x)), 0.999, 1.001));
        Assert.Equal(vectors[0], vectors[1]);
        Assert.NotEqual(vectors[0], vectors[2]);
    }

    [Fact]
    public async Task Models_health_and_metrics_describe_the_server()
    {
        var models = await fixture.Http.GetFromJsonAsync<JsonObject>("/v1/models");
        Assert.Contains(fixture.ModelName, models!["data"]!.AsArray().Select(m => (string)m!["id"]!));
        Assert.Equal("ok", (string)(await fixture.Http.GetFromJsonAsync<JsonObject>("/health"))!["status"]!);

        await Chat().CompleteChatAsync([new UserChatMessage("Hi")], new ChatCompletionOptions { MaxOutputTokenCount = 4 });
        string metrics = await fixture.Http.GetStringAsync("/metrics");
        Assert.Contains("modelgrid_requests_total{path=\"/v1/chat/completions\",status=\"200\"}", metrics);
        Assert.Contains($"modelgrid_time_to_first_token_seconds_count{{model=\"{fixture.ModelName}\"}}", metrics);
        Assert.Matches($"modelgrid_completion_tokens_total{{model=\"{fixture.ModelName}\"}} [1-9]", metrics);
        Assert.Contains("modelgrid_kv_blocks_free", metrics);
        Assert.Matches("modelgrid_kv_page_bytes{state=\"used\"} [1-9]", metrics); // cached prefixes hold pages
    }

    IEnumerable<(Engine.LanguageModel Model, string Name)> Models()
    {
        yield return (fixture.Model, fixture.ModelName);
        if (fixture.RecurrentModel is { } recurrent)
            yield return (recurrent, fixture.RecurrentName!);
    }

}

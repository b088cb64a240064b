using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Generation;

namespace ModelGrid.Server.Tests;

/// <summary>Raw SSE framing, and reasoning as the thinking templates produce it.</summary>
[Collection(ServerCollection.Name)]
public sealed class StreamingAndReasoningTests(ServerFixture fixture)
{
    async Task<List<JsonObject>> StreamAsync(string path, JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", lines[^1]);
        Assert.All(lines, line => Assert.StartsWith("data: ", line));
        return [.. lines[..^1].Select(line => JsonNode.Parse(line["data: ".Length..])!.AsObject())];
    }

    [Fact]
    public async Task Streamed_text_completions_match_the_whole_response_and_end_with_usage()
    {
        JsonObject Body(bool stream) => new()
        {
            ["model"] = fixture.ModelName,
            ["prompt"] = "The quick brown fox",
            ["max_tokens"] = 24,
            ["temperature"] = 0,
            ["stream"] = stream,
            ["stream_options"] = stream ? new JsonObject { ["include_usage"] = true } : null,
        };
        var (status, whole) = await fixture.PostAsync("/v1/completions", Body(false));
        Assert.Equal(200, status);
        var chunks = await StreamAsync("/v1/completions", Body(true));

        var text = string.Concat(chunks.SelectMany(c => c["choices"]!.AsArray()).Select(c => (string?)c!["text"]));
        Assert.Equal((string)whole["choices"]![0]!["text"]!, text);
        Assert.All(chunks[..^1], c => Assert.Null(c["usage"]));
        Assert.Empty(chunks[^1]["choices"]!.AsArray());
        Assert.Equal((int)whole["usage"]!["completion_tokens"]!, (int)chunks[^1]["usage"]!["completion_tokens"]!);
        Assert.Equal((string?)whole["choices"]![0]!["finish_reason"], chunks.SelectMany(c => c["choices"]!.AsArray()).Select(c => (string?)c!["finish_reason"]).Last(f => f is not null));
    }

    [Fact]
    public async Task Chat_streams_start_with_the_role_and_without_include_usage_carry_no_usage()
    {
        var chunks = await StreamAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = fixture.ModelName,
            ["messages"] = TestModels.UserMessage("Hi"),
            ["max_tokens"] = 6,
            ["stream"] = true,
            ["n"] = 2,
        });
        foreach (int index in new[] { 0, 1 })
        {
            var mine = chunks.Select(c => c["choices"]![0]!).Where(c => (int)c["index"]! == index).ToList();
            Assert.Equal("assistant", (string?)mine[0]["delta"]!["role"]);
            Assert.NotNull((string?)mine[^1]["finish_reason"]);
        }
        Assert.All(chunks, c => Assert.False(c.ContainsKey("usage")));
    }

    /// <summary>A template that ends its generation prompt inside <c>&lt;think&gt;</c> makes the reply reasoning.</summary>
    [Fact]
    public async Task A_thinking_prompt_returns_reasoning_content_and_enable_thinking_false_returns_content()
    {
        foreach (var (model, name) in new[] { (fixture.Model, fixture.ModelName), (fixture.RecurrentModel, fixture.RecurrentName) })
        {
            if (model is null)
                continue;
            var messages = TestModels.UserMessage("Think about the number seven.");
            foreach (bool thinking in new[] { true, false })
            {
                var arguments = new JsonObject { ["enable_thinking"] = thinking };
                var prompt = ChatPrompt.Encode(model, messages, templateArguments: arguments);
                string expected = await TestModels.EngineGreedyAsync(model, prompt.Ids, 16);
                var (status, body) = await fixture.PostAsync("/v1/chat/completions", new JsonObject
                {
                    ["model"] = name,
                    ["messages"] = messages.DeepClone(),
                    ["max_tokens"] = 16,
                    ["temperature"] = 0,
                    ["chat_template_kwargs"] = arguments.DeepClone(),
                });
                Assert.Equal(200, status);
                var message = body["choices"]![0]!["message"]!;
                bool opensThinking = prompt.Text.TrimEnd().EndsWith("<think>", StringComparison.Ordinal);
                if (opensThinking)
                    Assert.Equal(expected.Trim(), (string?)message["reasoning_content"]);
                else
                    Assert.Equal(expected, (string?)message["content"]);
                if (!thinking)
                    Assert.False(opensThinking);
            }
        }
    }

    [Fact]
    public async Task A_no_think_switch_in_the_last_user_message_turns_thinking_off()
    {
        var messages = TestModels.UserMessage("Quick answer please /no_think");
        var off = ChatPrompt.Encode(fixture.Model, messages, templateArguments: new JsonObject { ["enable_thinking"] = false });
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = fixture.ModelName,
            ["messages"] = messages.DeepClone(),
            ["max_tokens"] = 2,
        });
        Assert.Equal(200, status);
        Assert.Equal(off.Ids.Length, (int)body["usage"]!["prompt_tokens"]!);
    }
}

using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ModelGrid.Server.Chat;
using ModelGrid.Server.Hosting;

namespace ModelGrid.Server.Api;

/// <summary><c>POST /v1/chat/completions</c>: whole responses, or SSE chunks with <c>stream: true</c>.</summary>
static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ModelCatalog catalog, ImageLoader images)
    {
        var ct = context.RequestAborted;
        var body = await RequestFields.ReadBodyAsync(context.Request, ct);
        var plan = await ChatCompletion.PrepareAsync(catalog, body, images, ct);
        bool stream = RequestFields.Boolean(body, "stream") ?? false;
        bool includeUsage = stream && RequestFields.Object(body, "stream_options") is { } options && (RequestFields.Boolean(options, "include_usage") ?? false);
        string id = ResponseJson.NewId("chatcmpl-");
        long created = ResponseJson.Now();
        var tokenizer = plan.Model.Model.Tokenizer;
        var choices = Enumerable.Range(0, plan.Sampling.N).Select(_ => new ChoiceState()).ToArray();
        int completionTokens = 0, cachedTokens = 0;
        var sse = stream ? new Sse(context.Response) : null;

        await foreach (var update in ChatCompletion.RunAsync(plan, ct))
        {
            var choice = choices[update.Index];
            if (update.Token.TokenId is not null)
                completionTokens++;
            cachedTokens = Math.Max(cachedTokens, update.Token.CachedPromptTokens);
            JsonObject? logprob = plan.Sampling.Logprobs && update.Token.TokenId is not null ? ResponseJson.ChatLogprob(tokenizer, update.Token) : null;
            if (sse is null)
            {
                choice.Add(update, logprob);
                continue;
            }
            var delta = new JsonObject();
            if (!choice.Started)
            {
                delta["role"] = "assistant";
                delta["content"] = "";
                choice.Started = true;
            }
            var content = new StringBuilder();
            var reasoning = new StringBuilder();
            var calls = new JsonArray();
            foreach (var piece in update.Deltas)
                switch (piece)
                {
                    case ContentDelta c: content.Append(c.Text); break;
                    case ReasoningDelta r: reasoning.Append(r.Text); break;
                    case ToolCallDelta t: calls.Add(ResponseJson.ToolCall(t, streamed: true)); break;
                }
            if (content.Length > 0)
                delta["content"] = content.ToString();
            if (reasoning.Length > 0)
                delta["reasoning_content"] = reasoning.ToString();
            if (calls.Count > 0)
                delta["tool_calls"] = calls;
            if (delta.Count == 0 && logprob is null && update.FinishReason is null)
                continue;
            await sse.WriteAsync(Chunk(id, created, plan.Model.Name, new JsonArray(new JsonObject
            {
                ["index"] = update.Index,
                ["delta"] = delta,
                ["logprobs"] = logprob is null ? null : new JsonObject { ["content"] = new JsonArray(logprob) },
                ["finish_reason"] = update.FinishReason,
            }), includeUsage ? null : Absent), ct);
        }

        int promptTokens = plan.PromptTokens;
        if (sse is not null)
        {
            if (includeUsage)
                await sse.WriteAsync(Chunk(id, created, plan.Model.Name, [], ResponseJson.Usage(promptTokens, completionTokens, cachedTokens)), ct);
            await sse.DoneAsync(ct);
            return;
        }
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = plan.Model.Name,
            ["choices"] = new JsonArray([.. choices.Select((c, i) => (JsonNode)c.ToJson(i, plan.Sampling.Logprobs))]),
            ["usage"] = ResponseJson.Usage(promptTokens, completionTokens, cachedTokens),
        }, ct);
    }

    static readonly JsonObject Absent = [];

    static JsonObject Chunk(string id, long created, string model, JsonArray choices, JsonObject? usage)
    {
        var chunk = new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = choices,
        };
        // With include_usage every chunk carries "usage": null and the last one the totals, as OpenAI does.
        if (!ReferenceEquals(usage, Absent))
            chunk["usage"] = usage;
        return chunk;
    }

    sealed class ChoiceState
    {
        readonly StringBuilder _content = new();
        readonly StringBuilder _reasoning = new();
        readonly JsonArray _calls = [];
        readonly JsonArray _logprobs = [];
        string? _finish;

        public bool Started { get; set; }

        public void Add(ChoiceUpdate update, JsonObject? logprob)
        {
            foreach (var piece in update.Deltas)
                switch (piece)
                {
                    case ContentDelta c: _content.Append(c.Text); break;
                    case ReasoningDelta r: _reasoning.Append(r.Text); break;
                    case ToolCallDelta t: _calls.Add(ResponseJson.ToolCall(t, streamed: false)); break;
                }
            if (logprob is not null)
                _logprobs.Add(logprob);
            _finish = update.FinishReason ?? _finish;
        }

        public JsonObject ToJson(int index, bool logprobs)
        {
            string content = _content.ToString();
            var message = new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = _calls.Count > 0 && string.IsNullOrWhiteSpace(content) ? null : _calls.Count > 0 ? content.Trim() : content,
            };
            if (_reasoning.Length > 0)
                message["reasoning_content"] = _reasoning.ToString().Trim();
            if (_calls.Count > 0)
                message["tool_calls"] = _calls;
            return new JsonObject
            {
                ["index"] = index,
                ["message"] = message,
                ["logprobs"] = logprobs ? new JsonObject { ["content"] = _logprobs } : null,
                ["finish_reason"] = _finish,
            };
        }
    }
}

using System.Text.Json.Nodes;
using ModelGrid.Engine.Text.Tokenization;
using ModelGrid.Server.Chat;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Api;

/// <summary>The JSON pieces OpenAI responses share.</summary>
static class ResponseJson
{
    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];

    public static JsonObject Usage(int promptTokens, int completionTokens, int cachedTokens) => new()
    {
        ["prompt_tokens"] = promptTokens,
        ["completion_tokens"] = completionTokens,
        ["total_tokens"] = promptTokens + completionTokens,
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = cachedTokens },
    };

    public static JsonObject Error(string message, string type, string? param, string? code) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    };

    /// <summary>One entry of a chat choice's <c>logprobs.content</c>.</summary>
    public static JsonObject ChatLogprob(ByteLevelBpeTokenizer tokenizer, GeneratedToken token)
    {
        JsonObject Entry(int id, float logprob) => new()
        {
            ["token"] = tokenizer.Decode([id]),
            ["logprob"] = logprob,
            ["bytes"] = new JsonArray([.. tokenizer.TokenBytes(id).ToArray().Select(b => (JsonNode)JsonValue.Create((int)b))]),
        };
        var entry = Entry(token.TokenId!.Value, token.LogProbability);
        entry["top_logprobs"] = new JsonArray([.. (token.TopLogprobs ?? []).Select(t => (JsonNode)Entry(t.TokenId, t.LogProbability))]);
        return entry;
    }

    public static JsonObject ToolCall(ToolCallDelta call, bool streamed)
    {
        var json = new JsonObject
        {
            ["id"] = call.Id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = call.Call.Name, ["arguments"] = call.Call.Arguments },
        };
        if (streamed)
            json.Insert(0, "index", call.Index);
        return json;
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ModelGrid.Server.Chat;
using ModelGrid.Server.Hosting;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Api;

/// <summary>
/// <c>POST /v1/completions</c>: raw text continuation. The prompt is the caller's own text, so special tokens written in
/// it are recognized (as llama.cpp's server does); it may also be token ids, or a list of prompts.
/// </summary>
static class CompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ModelCatalog catalog)
    {
        var ct = context.RequestAborted;
        var body = await RequestFields.ReadBodyAsync(context.Request, ct);
        var model = catalog.Resolve(RequestFields.String(body, "model"));
        var prompts = Prompts(body, model);
        if (RequestFields.Boolean(body, "echo") == true)
            throw ApiException.Invalid("echo", "is not supported");
        var sampling = SamplingParameters.Parse(body, model, prompts.Max(p => p.Length), chat: false);
        var grammar = ChatCompletion.ResponseFormatGrammar(body);
        bool stream = RequestFields.Boolean(body, "stream") ?? false;
        bool includeUsage = stream && RequestFields.Object(body, "stream_options") is { } options && (RequestFields.Boolean(options, "include_usage") ?? false);

        var jobs = prompts.SelectMany(prompt => Enumerable.Range(0, sampling.N).Select(i => sampling.Job(prompt, i, ChatCompletion.CreateConstraint(model, grammar)))).ToList();
        string id = ResponseJson.NewId("cmpl-");
        long created = ResponseJson.Now();
        var tokenizer = model.Model.Tokenizer;
        var texts = jobs.Select(_ => new StringBuilder()).ToArray();
        var logprobs = jobs.Select(_ => new TextLogprobs()).ToArray();
        var finishes = new string?[jobs.Count];
        int completionTokens = 0, cachedTokens = 0;
        var sse = stream ? new Sse(context.Response) : null;

        await foreach (var (index, token) in JobStreams.Merge(model.Scheduler, jobs, ct))
        {
            if (token.TokenId is not null)
                completionTokens++;
            cachedTokens = Math.Max(cachedTokens, token.CachedPromptTokens);
            string? finish = token.FinishReason is { } reason ? ChatCompletion.FinishReasonName(reason) : null;
            if (sse is null)
            {
                if (sampling.Logprobs && token.TokenId is int kept)
                    logprobs[index].Add(tokenizer, token, kept, texts[index].Length);
                texts[index].Append(token.Text);
                finishes[index] = finish ?? finishes[index];
                continue;
            }
            TextLogprobs? entry = null;
            if (sampling.Logprobs && token.TokenId is int streamed)
            {
                entry = new TextLogprobs();
                entry.Add(tokenizer, token, streamed, texts[index].Length);
            }
            texts[index].Append(token.Text);
            if (token.Text.Length == 0 && finish is null && entry is null)
                continue;
            await sse.WriteAsync(Response(id, created, model.Name, new JsonArray(Choice(index, token.Text, entry?.ToJson(), finish)),
                includeUsage ? null : Absent, "text_completion"), ct);
        }

        int promptTokens = prompts.Sum(p => p.Length);
        var usage = ResponseJson.Usage(promptTokens, completionTokens, cachedTokens);
        if (sse is not null)
        {
            if (includeUsage)
                await sse.WriteAsync(Response(id, created, model.Name, [], usage, "text_completion"), ct);
            await sse.DoneAsync(ct);
            return;
        }
        await context.Response.WriteAsJsonAsync(Response(id, created, model.Name,
            new JsonArray([.. texts.Select((text, i) => (JsonNode)Choice(i, text.ToString(), sampling.Logprobs ? logprobs[i].ToJson() : null, finishes[i]))]),
            usage, "text_completion"), ct);
    }

    static readonly JsonObject Absent = [];

    static JsonObject Response(string id, long created, string model, JsonArray choices, JsonObject? usage, string type)
    {
        var response = new JsonObject { ["id"] = id, ["object"] = type, ["created"] = created, ["model"] = model, ["choices"] = choices };
        if (!ReferenceEquals(usage, Absent))
            response["usage"] = usage;
        return response;
    }

    static JsonObject Choice(int index, string text, JsonObject? logprobs, string? finish) => new()
    {
        ["text"] = text,
        ["index"] = index,
        ["logprobs"] = logprobs,
        ["finish_reason"] = finish,
    };

    static List<int[]> Prompts(JsonObject body, ServedModel model)
    {
        var tokenizer = model.Model.Tokenizer;
        int[] Tokens(JsonArray ids, string path) => [.. ids.Select((id, i) =>
            id is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int token) && token >= 0 && token < tokenizer.VocabularySize
                ? token
                : throw ApiException.Invalid($"{path}[{i}]", $"must be a token id (0..{tokenizer.VocabularySize - 1})"))];

        var prompts = body["prompt"] switch
        {
            null => throw new ApiException(400, "prompt: is required", "prompt", "missing_required_parameter"),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [tokenizer.Encode(v.GetValue<string>(), parseSpecialTokens: true)],
            JsonArray { Count: > 0 } items when items.All(i => i is JsonValue n && n.GetValueKind() == JsonValueKind.Number) => [Tokens(items, "prompt")],
            JsonArray { Count: > 0 } items => items.Select((item, i) => item switch
            {
                JsonValue s when s.GetValueKind() == JsonValueKind.String => tokenizer.Encode(s.GetValue<string>(), parseSpecialTokens: true),
                JsonArray ids => Tokens(ids, $"prompt[{i}]"),
                _ => throw ApiException.Invalid($"prompt[{i}]", "must be a string or an array of token ids"),
            }).ToList(),
            _ => throw ApiException.Invalid("prompt", "must be a string, an array of strings, or token ids"),
        };
        for (int i = 0; i < prompts.Count; i++)
        {
            if (prompts[i].Length == 0)
                throw ApiException.Invalid(prompts.Count == 1 ? "prompt" : $"prompt[{i}]", "is empty");
            if (prompts[i].Length >= model.Scheduler.ContextLength)
                throw new ApiException(400, $"prompt: {prompts[i].Length} tokens do not fit the context of {model.Scheduler.ContextLength}", "prompt", "context_length_exceeded");
        }
        return prompts;
    }

    /// <summary>The legacy completions logprobs layout: parallel arrays.</summary>
    sealed class TextLogprobs
    {
        readonly JsonArray _tokens = [], _logprobs = [], _top = [], _offsets = [];

        public void Add(Engine.Text.Tokenization.ByteLevelBpeTokenizer tokenizer, GeneratedToken token, int tokenId, int offset)
        {
            _tokens.Add(tokenizer.Decode([tokenId]));
            _logprobs.Add(token.LogProbability);
            var top = new JsonObject();
            foreach (var alternative in token.TopLogprobs ?? [])
                top[tokenizer.Decode([alternative.TokenId])] = alternative.LogProbability;
            _top.Add(top);
            _offsets.Add(offset);
        }

        public JsonObject ToJson() => new()
        {
            ["tokens"] = _tokens.DeepClone(),
            ["token_logprobs"] = _logprobs.DeepClone(),
            ["top_logprobs"] = _top.DeepClone(),
            ["text_offset"] = _offsets.DeepClone(),
        };
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Generation;
using ModelGrid.Server.Hosting;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Api;

/// <summary>The sampling and stopping parameters shared by chat and text completions.</summary>
public sealed record SamplingParameters(GenerationOptions Options, int N, int TopLogprobs, bool Logprobs)
{
    const int MaxChoices = 16;
    const int MaxStops = 16;

    /// <param name="chat">Chat completions take <c>logprobs: bool</c> + <c>top_logprobs</c>; text completions take <c>logprobs: int</c>.</param>
    internal static SamplingParameters Parse(JsonObject body, ServedModel model, int promptTokens, bool chat)
    {
        var defaults = new SamplingOptions();
        var bias = LogitBias(body, model.Model.Tokenizer.VocabularySize);
        var sampling = new SamplingOptions
        {
            Temperature = (float)(RequestFields.Number(body, "temperature", 0, 2) ?? defaults.Temperature),
            TopP = (float)(RequestFields.Number(body, "top_p", double.Epsilon, 1) ?? defaults.TopP),
            TopK = (int)(RequestFields.Integer(body, "top_k", 0, int.MaxValue) ?? defaults.TopK),
            MinP = (float)(RequestFields.Number(body, "min_p", 0, 1) ?? defaults.MinP),
            PresencePenalty = (float)(RequestFields.Number(body, "presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(RequestFields.Number(body, "frequency_penalty", -2, 2) ?? 0),
            RepetitionPenalty = (float)(RequestFields.Number(body, "repetition_penalty", double.Epsilon, 100) ?? 1),
            Seed = RequestFields.Integer(body, "seed", long.MinValue, long.MaxValue) is long seed ? unchecked((ulong)seed) : null,
            LogitBias = bias,
        };

        int room = model.Scheduler.ContextLength - promptTokens;
        long? maxTokens = RequestFields.Integer(body, "max_completion_tokens", 1, int.MaxValue) ?? RequestFields.Integer(body, "max_tokens", 1, int.MaxValue);
        int n = (int)(RequestFields.Integer(body, "n", 1, MaxChoices) ?? 1);
        int topLogprobs;
        bool logprobs;
        if (chat)
        {
            logprobs = RequestFields.Boolean(body, "logprobs") ?? false;
            topLogprobs = (int)(RequestFields.Integer(body, "top_logprobs", 0, 20) ?? 0);
            if (topLogprobs > 0 && !logprobs)
                throw ApiException.Invalid("top_logprobs", "requires logprobs to be true");
        }
        else
        {
            long? count = RequestFields.Integer(body, "logprobs", 0, 5);
            logprobs = count is not null;
            topLogprobs = (int)(count ?? 0);
        }
        var options = new GenerationOptions
        {
            MaxTokens = (int)Math.Min(maxTokens ?? room, room),
            Sampling = sampling,
            Stop = Stops(body),
            IgnoreEndOfGeneration = RequestFields.Boolean(body, "ignore_eos") ?? false,
        };
        return new SamplingParameters(options, n, topLogprobs, logprobs);
    }

    /// <summary>The job for choice <paramref name="index"/>: choices of one request get consecutive seeds.</summary>
    internal GenerationJob Job(IReadOnlyList<int> prompt, int index, ITokenConstraint? constraint) => new(prompt, index == 0 || Options.Sampling.Seed is null
        ? Options
        : Options with { Sampling = Options.Sampling with { Seed = Options.Sampling.Seed + (ulong)index } })
    {
        Logprobs = Logprobs,
        TopLogprobs = Logprobs ? TopLogprobs : 0,
        Constraint = constraint,
    };

    static IReadOnlyList<string> Stops(JsonObject body)
    {
        switch (body["stop"])
        {
            case null:
                return [];
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                return [v.GetValue<string>()];
            case JsonArray items when items.Count <= MaxStops:
                return [.. items.Select((item, i) => item is JsonValue s && s.GetValueKind() == JsonValueKind.String
                    ? s.GetValue<string>()
                    : throw ApiException.Invalid($"stop[{i}]", "must be a string"))];
            default:
                throw ApiException.Invalid("stop", $"must be a string or an array of at most {MaxStops} strings");
        }
    }

    static Dictionary<int, float>? LogitBias(JsonObject body, int vocabulary)
    {
        var map = RequestFields.Object(body, "logit_bias");
        if (map is null)
            return null;
        var bias = new Dictionary<int, float>();
        foreach (var (key, value) in map)
        {
            if (!int.TryParse(key, out int token) || token < 0 || token >= vocabulary)
                throw ApiException.Invalid("logit_bias", $"'{key}' is not a token id of this model (0..{vocabulary - 1})");
            if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || v.GetValue<double>() is < -100 or > 100)
                throw ApiException.Invalid("logit_bias", $"the bias of token {key} must be a number in [-100, 100]");
            // OpenAI's -100 means "never": make it so regardless of the logit scale.
            double amount = v.GetValue<double>();
            bias[token] = amount <= -100 ? float.NegativeInfinity : (float)amount;
        }
        return bias;
    }
}

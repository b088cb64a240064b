using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ModelGrid.Engine.Models;
using ModelGrid.Server.Hosting;

namespace ModelGrid.Server.Api;

/// <summary>
/// <c>POST /v1/embeddings</c>: the final-normed hidden state of each input's last token, L2-normalized, as
/// Qwen3-Embedding models are used. Inputs are plain text (no special-token recognition) or token ids.
/// </summary>
static class EmbeddingsEndpoint
{
    const int Chunk = 512;

    public static async Task HandleAsync(HttpContext context, ModelCatalog catalog)
    {
        var ct = context.RequestAborted;
        var body = await RequestFields.ReadBodyAsync(context.Request, ct);
        var model = catalog.Resolve(RequestFields.String(body, "model"));
        var tokenizer = model.Model.Tokenizer;
        string format = RequestFields.String(body, "encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
            throw ApiException.Invalid("encoding_format", $"'{format}' is not float or base64");
        if (RequestFields.Integer(body, "dimensions", 1, model.Model.Decoder.EmbeddingLength) is long dimensions && dimensions != model.Model.Decoder.EmbeddingLength)
            throw ApiException.Invalid("dimensions", $"this model's embeddings have {model.Model.Decoder.EmbeddingLength} dimensions");
        var inputs = body["input"] switch
        {
            null => throw new ApiException(400, "input: is required", "input", "missing_required_parameter"),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [tokenizer.Encode(v.GetValue<string>(), parseSpecialTokens: false)],
            JsonArray { Count: > 0 } items when items.All(i => i is JsonValue n && n.GetValueKind() == JsonValueKind.Number) => [TokenIds(items, "input", tokenizer.VocabularySize)],
            JsonArray { Count: > 0 } items => items.Select((item, i) => item switch
            {
                JsonValue s when s.GetValueKind() == JsonValueKind.String => tokenizer.Encode(s.GetValue<string>(), parseSpecialTokens: false),
                JsonArray ids => TokenIds(ids, $"input[{i}]", tokenizer.VocabularySize),
                _ => throw ApiException.Invalid($"input[{i}]", "must be a string or an array of token ids"),
            }).ToList(),
            _ => throw ApiException.Invalid("input", "must be a string, an array of strings, or token ids"),
        };
        for (int i = 0; i < inputs.Count; i++)
        {
            if (inputs[i].Length == 0)
                throw ApiException.Invalid(inputs.Count == 1 ? "input" : $"input[{i}]", "is empty");
            if (inputs[i].Length > model.Scheduler.ContextLength)
                throw new ApiException(400, $"input: {inputs[i].Length} tokens do not fit the context of {model.Scheduler.ContextLength}", "input", "context_length_exceeded");
        }

        var data = new JsonArray();
        for (int i = 0; i < inputs.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            float[] vector = await Task.Run(() => Embed(model, inputs[i]), ct);
            data.Add(new JsonObject
            {
                ["object"] = "embedding",
                ["index"] = i,
                ["embedding"] = format == "base64"
                    ? Convert.ToBase64String(MemoryMarshal.AsBytes(vector.AsSpan()))
                    : new JsonArray([.. vector.Select(x => (JsonNode)JsonValue.Create(x))]),
            });
        }
        int tokens = inputs.Sum(t => t.Length);
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["model"] = model.Name,
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        }, ct);
    }

    /// <summary>Runs the tokens through a fresh sequence and returns the last token's hidden state, L2-normalized.</summary>
    internal static float[] Embed(ServedModel model, int[] tokens)
    {
        var decoder = model.Model.Decoder;
        using var sequence = decoder.CreateSequence(model.Scheduler.ContextLength);
        var batch = new ForwardBatch();
        float[] hidden = new float[decoder.EmbeddingLength];
        for (int start = 0; start < tokens.Length; start += Chunk)
        {
            int end = Math.Min(tokens.Length, start + Chunk);
            for (int t = start; t < end; t++)
                batch.Add(sequence, tokens[t], wantLogits: t == tokens.Length - 1);
            decoder.ForwardHiddenStates(batch, hidden);
        }
        float norm = TensorPrimitives.Norm(hidden);
        if (norm > 0)
            TensorPrimitives.Divide(hidden, norm, hidden);
        return hidden;
    }

    static int[] TokenIds(JsonArray ids, string path, int vocabulary) => [.. ids.Select((id, i) =>
        id is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int token) && token >= 0 && token < vocabulary
            ? token
            : throw ApiException.Invalid($"{path}[{i}]", $"must be a token id (0..{vocabulary - 1})"))];
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ModelGrid.Server.Api;

/// <summary>Reads request bodies and typed fields, failing with a 400 that names the field.</summary>
static class RequestFields
{
    public static async Task<JsonObject> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 64 }, cancellationToken: ct);
        }
        catch (JsonException e)
        {
            throw new ApiException(400, $"the request body is not valid JSON: {e.Message}", null, "invalid_json");
        }
        return body as JsonObject ?? throw new ApiException(400, "the request body must be a JSON object", null, "invalid_json");
    }

    public static string? String(JsonObject body, string name, string? path = null) => body[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw ApiException.Invalid(path ?? name, "must be a string"),
    };

    public static string RequiredString(JsonObject body, string name, string? path = null) =>
        String(body, name, path) ?? throw new ApiException(400, $"{path ?? name}: is required", path ?? name, "missing_required_parameter");

    public static bool? Boolean(JsonObject body, string name) => body[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw ApiException.Invalid(name, "must be true or false"),
    };

    public static double? Number(JsonObject body, string name, double min, double max)
    {
        if (body[name] is null)
            return null;
        if (body[name] is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
            throw ApiException.Invalid(name, "must be a number");
        // Parsed bodies hold JsonElements; bodies built in memory (the in-process chat client) may hold any numeric type.
        double value = v.TryGetValue(out double d) ? d : double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
        return value >= min && value <= max ? value : throw ApiException.Invalid(name, $"{value} is out of range [{min}, {max}]");
    }

    public static long? Integer(JsonObject body, string name, long min, long max)
    {
        if (body[name] is null)
            return null;
        if (body[name] is not JsonValue v || v.GetValueKind() != JsonValueKind.Number
            || !(v.TryGetValue(out long value) || long.TryParse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture, out value)))
            throw ApiException.Invalid(name, "must be an integer");
        return value >= min && value <= max ? value : throw ApiException.Invalid(name, $"{value} is out of range [{min}, {max}]");
    }

    public static JsonObject? Object(JsonObject body, string name, string? path = null) => body[name] switch
    {
        null => null,
        JsonObject o => o,
        _ => throw ApiException.Invalid(path ?? name, "must be an object"),
    };

    public static JsonArray? Array(JsonObject body, string name, string? path = null) => body[name] switch
    {
        null => null,
        JsonArray a => a,
        _ => throw ApiException.Invalid(path ?? name, "must be an array"),
    };
}

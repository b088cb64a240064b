using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ModelGrid.Server.Chat;

/// <summary>A function call the model made: its name and its arguments as a JSON object text.</summary>
public sealed record ParsedToolCall(string Name, string Arguments);

/// <summary>
/// Reads the body of a <c>&lt;tool_call&gt;…&lt;/tool_call&gt;</c> block in either form Qwen models write:
/// JSON <c>{"name": …, "arguments": {…}}</c> (Qwen2.5/Qwen3) or the XML form of Qwen3-Coder
/// (<c>&lt;function=name&gt;&lt;parameter=p&gt;value&lt;/parameter&gt;&lt;/function&gt;</c>).
/// </summary>
public static partial class ToolCallParser
{
    /// <param name="tools">The request's tool definitions: the XML form's parameter types come from them.</param>
    public static ParsedToolCall? TryParse(string body, JsonArray? tools)
    {
        string text = body.Trim();
        return text.StartsWith('{') ? TryParseJson(text) : text.StartsWith("<function=", StringComparison.Ordinal) ? TryParseXml(text, tools) : null;
    }

    static ParsedToolCall? TryParseJson(string text)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
        if (node is not JsonObject call || call["name"] is not JsonValue nameValue || nameValue.GetValueKind() != JsonValueKind.String)
            return null;
        string name = nameValue.GetValue<string>();
        var arguments = call["arguments"] ?? call["parameters"];
        switch (arguments)
        {
            case null:
                return new ParsedToolCall(name, "{}");
            case JsonObject obj:
                return new ParsedToolCall(name, obj.ToJsonString());
            case JsonValue s when s.GetValueKind() == JsonValueKind.String:
                try
                {
                    return JsonNode.Parse(s.GetValue<string>()) is JsonObject parsed ? new ParsedToolCall(name, parsed.ToJsonString()) : null;
                }
                catch (JsonException)
                {
                    return null;
                }
            default:
                return null;
        }
    }

    static ParsedToolCall? TryParseXml(string text, JsonArray? tools)
    {
        var function = FunctionPattern().Match(text);
        if (!function.Success)
            return null;
        string name = function.Groups["name"].Value.Trim();
        var schema = tools?.Select(t => t?["function"]).FirstOrDefault(f => (string?)f?["name"] == name)?["parameters"]?["properties"];
        var arguments = new JsonObject();
        foreach (Match parameter in ParameterPattern().Matches(function.Groups["body"].Value))
        {
            string key = parameter.Groups["name"].Value.Trim();
            string raw = TrimOneNewline(parameter.Groups["value"].Value);
            arguments[key] = (string?)schema?[key]?["type"] == "string" ? JsonValue.Create(raw) : ParseValue(raw);
        }
        return new ParsedToolCall(name, arguments.ToJsonString());
    }

    /// <summary>A parameter value as JSON when it is JSON (numbers, booleans, objects), else as a string.</summary>
    static JsonNode? ParseValue(string raw)
    {
        try
        {
            return JsonNode.Parse(raw) ?? JsonValue.Create((string?)null);
        }
        catch (JsonException)
        {
            return JsonValue.Create(raw);
        }
    }

    static string TrimOneNewline(string value)
    {
        if (value.StartsWith('\n'))
            value = value[1..];
        if (value.EndsWith('\n'))
            value = value[..^1];
        return value;
    }

    [GeneratedRegex(@"^<function=(?<name>[^>\n]+)>(?<body>.*?)</function>\s*$", RegexOptions.Singleline)]
    private static partial Regex FunctionPattern();

    [GeneratedRegex(@"<parameter=(?<name>[^>\n]+)>(?<value>.*?)</parameter>", RegexOptions.Singleline)]
    private static partial Regex ParameterPattern();
}

using System.Globalization;
using System.Text.Json.Nodes;
using ModelGrid.Hub.Api;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ModelGrid.Hub.Cards;

/// <summary>The YAML front matter of a model card (<c>README.md</c>), as the Hub's <c>cardData</c> JSON.</summary>
public static class ModelCard
{
    /// <summary>The front matter between the leading <c>---</c> lines, or null if the card has none.</summary>
    public static JsonObject? ReadFrontMatter(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        if (lines.Length == 0 || lines[0].TrimEnd() != "---")
            return null;
        var end = Array.FindIndex(lines, 1, line => line.TrimEnd() == "---");
        if (end < 0)
            throw HubException.BadRequest("README.md: YAML front matter opened with '---' is never closed");
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(string.Join('\n', lines[1..end])));
        }
        catch (YamlException e)
        {
            throw HubException.BadRequest($"README.md: invalid YAML front matter at line {e.Start.Line + 1}: {e.Message}");
        }
        if (yaml.Documents.Count == 0)
            return [];
        return ToJson(yaml.Documents[0].RootNode) as JsonObject
            ?? throw HubException.BadRequest("README.md: YAML front matter must be a mapping of keys to values");
    }

    static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(pair =>
            KeyValuePair.Create(((YamlScalarNode)pair.Key).Value ?? "", ToJson(pair.Value)))),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(ToJson)]),
        YamlScalarNode scalar => ScalarToJson(scalar),
        _ => null,
    };

    // Plain (unquoted) scalars follow YAML 1.2 core-schema typing; quoted ones stay strings.
    static JsonNode? ScalarToJson(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style != ScalarStyle.Plain)
            return JsonValue.Create(text);
        if (text is "" or "~" or "null" or "Null" or "NULL")
            return null;
        if (text is "true" or "True" or "TRUE")
            return JsonValue.Create(true);
        if (text is "false" or "False" or "FALSE")
            return JsonValue.Create(false);
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
            return JsonValue.Create(integer);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real))
            return JsonValue.Create(real);
        return JsonValue.Create(text);
    }

    /// <summary>A field that may be a single string or a list of strings (as <c>tags</c>, <c>base_model</c>, <c>language</c> are).</summary>
    public static IReadOnlyList<string> StringList(JsonObject card, string key) => card[key] switch
    {
        JsonArray array => [.. array.Select(item => item?.ToString()).OfType<string>().Where(s => s.Length > 0)],
        JsonValue value when value.ToString() is { Length: > 0 } text => [text],
        _ => [],
    };

    public static string? String(JsonObject card, string key) =>
        card[key] is JsonValue value && value.ToString() is { Length: > 0 } text ? text : null;
}

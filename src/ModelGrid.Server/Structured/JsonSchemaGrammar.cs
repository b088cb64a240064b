using System.Text.Json;
using System.Text.Json.Nodes;

namespace ModelGrid.Server.Structured;

/// <summary>A schema construct the grammar compiler does not support; <see cref="Path"/> says where.</summary>
public sealed class UnsupportedSchemaException(string path, string message) : Exception($"{path}: {message}")
{
    public string Path { get; } = path;
}

/// <summary>
/// Compiles a JSON schema into a grammar: type (or a list of types), properties/required (in the schema's order),
/// items/minItems/maxItems, minLength/maxLength, enum, const, anyOf/oneOf, $ref into $defs/definitions, nullable.
/// Annotations (description, title, format, pattern, additionalProperties...) do not constrain the output.
/// </summary>
static class JsonSchemaGrammar
{
    /// <summary>Any JSON value.</summary>
    public static GrammarNode AnyValue()
    {
        var value = new ChoiceNode();
        var map = new MapNode { Value = value };
        value.Options = [map, new ArrayNode(value), new StringNode(), new NumberNode(integer: false),
            new LiteralNode("true"), new LiteralNode("false"), new LiteralNode("null")];
        return value;
    }

    /// <summary>Any JSON object (response_format json_object).</summary>
    public static GrammarNode AnyObject() => ((ChoiceNode)AnyValue()).Options[0];

    public static GrammarNode Compile(JsonNode? schema, string path = "schema") =>
        new Compiler(schema).Compile(schema, path);

    sealed class Compiler(JsonNode? root)
    {
        readonly Dictionary<string, ChoiceNode> _references = new(StringComparer.Ordinal);
        GrammarNode? _any;

        GrammarNode Any => _any ??= AnyValue();

        public GrammarNode Compile(JsonNode? schema, string path)
        {
            switch (schema)
            {
                case null:
                    return Any;
                case JsonValue value when value.TryGetValue(out bool allowed):
                    return allowed ? Any : throw new UnsupportedSchemaException(path, "the schema 'false' matches nothing");
                case not JsonObject:
                    throw new UnsupportedSchemaException(path, "a schema must be an object or a boolean");
            }
            var obj = schema.AsObject();
            if (obj["$ref"] is { } reference)
                return Reference((string?)reference ?? "", path);
            if (obj["const"] is var constant && obj.ContainsKey("const"))
                return new LiteralNode(constant?.ToJsonString() ?? "null");
            if (obj["enum"] is JsonArray values)
                return values.Count == 0
                    ? throw new UnsupportedSchemaException(path + ".enum", "an empty enum matches nothing")
                    : new ChoiceNode([.. values.Select(v => new LiteralNode(v?.ToJsonString() ?? "null"))]);
            foreach (string key in (string[])["anyOf", "oneOf"])
                if (obj[key] is JsonArray options)
                    return new ChoiceNode([.. options.Select((option, i) => Compile(option, $"{path}.{key}[{i}]"))]);
            if (obj.ContainsKey("allOf"))
                throw new UnsupportedSchemaException(path + ".allOf", "allOf is not supported; merge the schemas into one");

            GrammarNode typed = obj["type"] switch
            {
                null => obj.ContainsKey("properties") ? Object(obj, path) : obj.ContainsKey("items") ? Array(obj, path) : Any,
                JsonArray types => new ChoiceNode([.. types.Select((t, i) => Type(t?.GetValueKind() == JsonValueKind.String ? (string?)t : null, obj, path, $"{path}.type[{i}]"))]),
                var type => Type(type.GetValueKind() == JsonValueKind.String ? (string?)type : null, obj, path, path + ".type"),
            };
            return obj["nullable"] is JsonValue nullable && nullable.TryGetValue(out bool isNullable) && isNullable
                ? new ChoiceNode(typed, new LiteralNode("null"))
                : typed;
        }

        GrammarNode Type(string? type, JsonObject schema, string path, string typePath) => type switch
        {
            "object" => Object(schema, path),
            "array" => Array(schema, path),
            "string" => new StringNode(Integer(schema, "minLength", path) ?? 0, Integer(schema, "maxLength", path) ?? int.MaxValue),
            "integer" => new NumberNode(integer: true),
            "number" => new NumberNode(integer: false),
            "boolean" => new ChoiceNode(new LiteralNode("true"), new LiteralNode("false")),
            "null" => new LiteralNode("null"),
            _ => throw new UnsupportedSchemaException(typePath, $"unknown type '{type}'"),
        };

        GrammarNode Object(JsonObject schema, string path)
        {
            if (schema["properties"] is not JsonObject properties || properties.Count == 0)
                return schema["additionalProperties"] is JsonObject valueSchema
                    ? new MapNode { Value = Compile(valueSchema, path + ".additionalProperties") }
                    : new MapNode { Value = Any };
            var required = (schema["required"] as JsonArray)?.Select(r => (string?)r).ToHashSet(StringComparer.Ordinal) ?? [];
            return new ObjectNode([.. properties.Select(p => new ObjectProperty(p.Key, Compile(p.Value, $"{path}.properties.{p.Key}"), required.Contains(p.Key)))]);
        }

        GrammarNode Array(JsonObject schema, string path)
        {
            int min = Integer(schema, "minItems", path) ?? 0, max = Integer(schema, "maxItems", path) ?? int.MaxValue;
            if (min > max)
                throw new UnsupportedSchemaException(path, $"minItems {min} exceeds maxItems {max}");
            return new ArrayNode(Compile(schema["items"], path + ".items"), min, max);
        }

        static int? Integer(JsonObject schema, string key, string path) => schema[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out int n) && n >= 0 => n,
            JsonValue v when v.TryGetValue(out double d) && d >= 0 && d == Math.Floor(d) => (int)Math.Min(d, int.MaxValue),
            _ => throw new UnsupportedSchemaException($"{path}.{key}", "must be a non-negative integer"),
        };

        GrammarNode Reference(string reference, string path)
        {
            if (_references.TryGetValue(reference, out var known))
                return known;
            string[] parts = reference.Split('/');
            if (parts.Length != 3 || parts[0] != "#" || parts[1] is not ("$defs" or "definitions"))
                throw new UnsupportedSchemaException(path + ".$ref", $"only local references like '#/$defs/Name' are supported, not '{reference}'");
            var target = root?[parts[1]]?[parts[2]]
                ?? throw new UnsupportedSchemaException(path + ".$ref", $"'{reference}' does not exist");
            // The placeholder goes in first so that a recursive schema refers back to it.
            var placeholder = new ChoiceNode();
            _references[reference] = placeholder;
            placeholder.Options = [Compile(target, reference)];
            return placeholder;
        }
    }
}

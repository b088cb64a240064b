using System.Text;

namespace ModelGrid.Server.Structured;

/// <summary>
/// A node of a byte-level grammar compiled from a JSON schema (or built for a tool call). Output is compact JSON:
/// no whitespace between tokens, so a constrained generation always has a way to finish.
/// </summary>
abstract class GrammarNode;

sealed class LiteralNode(string text) : GrammarNode
{
    public byte[] Bytes { get; } = Encoding.UTF8.GetBytes(text);
}

sealed class StringNode(int minLength = 0, int maxLength = int.MaxValue) : GrammarNode
{
    public int MinLength => minLength;
    public int MaxLength => maxLength;
}

sealed class NumberNode(bool integer) : GrammarNode
{
    public bool Integer => integer;
}

sealed record ObjectProperty(string Name, GrammarNode Value, bool Required)
{
    public LiteralNode FirstKey { get; } = new(System.Text.Json.JsonSerializer.Serialize(Name) + ":");
    public LiteralNode NextKey { get; } = new("," + System.Text.Json.JsonSerializer.Serialize(Name) + ":");
}

/// <summary>An object with the given properties, in order; optional ones may be left out.</summary>
sealed class ObjectNode(IReadOnlyList<ObjectProperty> properties) : GrammarNode
{
    public IReadOnlyList<ObjectProperty> Properties => properties;
}

/// <summary>An object with any keys, each value matching <see cref="Value"/>.</summary>
sealed class MapNode : GrammarNode
{
    public GrammarNode Value { get; set; } = null!;
    public StringNode Key { get; } = new();
    public LiteralNode Colon { get; } = new(":");
}

sealed class ArrayNode(GrammarNode item, int minItems = 0, int maxItems = int.MaxValue) : GrammarNode
{
    public GrammarNode Item => item;
    public int MinItems => minItems;
    public int MaxItems => maxItems;
}

/// <summary>Any one of the options; options may be set after construction to allow recursive schemas.</summary>
sealed class ChoiceNode(params GrammarNode[] options) : GrammarNode
{
    public GrammarNode[] Options { get; set; } = options;
}

sealed class SequenceNode(params GrammarNode[] parts) : GrammarNode
{
    public GrammarNode[] Parts => parts;
}

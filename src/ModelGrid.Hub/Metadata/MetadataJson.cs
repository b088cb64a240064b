using System.Text.Json;

namespace ModelGrid.Hub.Metadata;

/// <summary>The metadata both stores keep as JSON text, in one format.</summary>
static class MetadataJson
{
    public static string Serialize(IReadOnlyDictionary<string, long> tensorTypes) => JsonSerializer.Serialize(tensorTypes);

    public static string? Serialize(GgufInfo? gguf) => gguf is null ? null : JsonSerializer.Serialize(gguf);

    public static IReadOnlyDictionary<string, long> TensorTypes(string? json) =>
        json is null ? new Dictionary<string, long>() : JsonSerializer.Deserialize<Dictionary<string, long>>(json)!;

    public static GgufInfo? Gguf(string? json) => json is null ? null : JsonSerializer.Deserialize<GgufInfo>(json);
}

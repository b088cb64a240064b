using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Hub.Api;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Storage;

namespace ModelGrid.Hub.Cards;

/// <summary>
/// Derives a revision's searchable metadata from its files: the model card's front matter, config.json,
/// safetensors headers and the first GGUF header, with the tags the Hugging Face Hub derives from them
/// (<c>license:…</c>, <c>base_model:…</c>, <c>base_model:{relation}:…</c>, library and format tags).
/// </summary>
public static class ModelMetadataReader
{
    public static readonly IReadOnlySet<string> Relations = new HashSet<string> { "finetune", "quantized", "adapter", "merge" };
    const long MaxCardBytes = 1 << 20;
    const long MaxConfigBytes = 4 << 20;

    public static async Task<ModelMetadata> ReadAsync(IReadOnlyList<FileEntry> files, BlobStore blobs, CancellationToken ct)
    {
        var byPath = files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var card = byPath.TryGetValue("README.md", out var readme) && readme.Size <= MaxCardBytes
            ? ModelCard.ReadFrontMatter(await ReadTextAsync(blobs, readme, ct))
            : null;
        var config = byPath.TryGetValue("config.json", out var configFile) && configFile.Size <= MaxConfigBytes
            ? ParseConfig(await ReadTextAsync(blobs, configFile, ct))
            : null;

        var tensorTypes = new Dictionary<string, long>();
        foreach (var file in files.Where(f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            await using var stream = blobs.OpenRead(file.Sha256);
            foreach (var (dtype, count) in await SafetensorsHeader.ReadParameterCountsAsync(stream, file.Path, ct) ?? [])
                tensorTypes[dtype] = tensorTypes.GetValueOrDefault(dtype) + count;
        }

        var ggufFiles = files.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)).OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        var hasGguf = ggufFiles.Count > 0;
        var gguf = hasGguf ? GgufHeader.Read(blobs.PathOf(ggufFiles[0].Sha256)) : null;
        var hasSafetensors = files.Any(f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal));
        var license = card is null ? null : ModelCard.String(card, "license");
        var pipelineTag = card is null ? null : ModelCard.String(card, "pipeline_tag");
        var library = (card is null ? null : ModelCard.String(card, "library_name"))
            ?? (hasGguf ? "gguf" : config is not null && hasSafetensors ? "transformers" : null);
        var modelType = AsString(config?["model_type"]);
        var architecture = AsString((config?["architectures"] as JsonArray)?.FirstOrDefault());
        var bases = card is null ? [] : BaseModels(card, byPath.ContainsKey("adapter_config.json"), hasGguf);

        var tags = new List<string>();
        if (library is not null) tags.Add(library);
        if (hasGguf) tags.Add("gguf");
        if (hasSafetensors) tags.Add("safetensors");
        if (modelType is not null) tags.Add(modelType);
        // As model_type for transformers models: what `filter=`/`model_type=` find a GGUF model by.
        if (gguf?.Architecture is { } ggufArchitecture) tags.Add(ggufArchitecture);
        if (card is not null)
        {
            tags.AddRange(ModelCard.StringList(card, "tags"));
            tags.AddRange(ModelCard.StringList(card, "language"));
        }
        if (pipelineTag is not null) tags.Add(pipelineTag);
        if (license is not null) tags.Add($"license:{license}");
        foreach (var link in bases)
        {
            tags.Add($"base_model:{link.BaseModel}");
            tags.Add($"base_model:{link.Relation}:{link.BaseModel}");
        }

        return new ModelMetadata
        {
            License = license,
            PipelineTag = pipelineTag,
            LibraryName = library,
            Architecture = architecture,
            ModelType = modelType,
            ParameterCount = tensorTypes.Count > 0 ? tensorTypes.Values.Sum() : gguf?.Total,
            TensorTypes = tensorTypes,
            Gguf = gguf,
            Tags = [.. tags.Distinct(StringComparer.OrdinalIgnoreCase)],
            BaseModels = bases,
            CardDataJson = card?.ToJsonString(),
        };
    }

    // Without an explicit base_model_relation the Hub infers one: an adapter config means adapter, several bases a
    // merge, GGUF weights a quantization, anything else a fine-tune.
    static IReadOnlyList<BaseModelLink> BaseModels(JsonObject card, bool hasAdapterConfig, bool hasGguf)
    {
        var bases = ModelCard.StringList(card, "base_model");
        if (bases.Count == 0)
            return [];
        foreach (var name in bases)
        {
            if (!Repos.RepoName.TryParse(name, out _))
                throw HubException.BadRequest($"README.md: base_model '{name}' is not a 'namespace/name' repository id");
        }
        var declared = ModelCard.String(card, "base_model_relation");
        if (declared is not null && !Relations.Contains(declared))
            throw HubException.BadRequest($"README.md: base_model_relation '{declared}' is not one of {string.Join(", ", Relations)}");
        var relation = declared
            ?? (hasAdapterConfig ? "adapter" : bases.Count > 1 ? "merge" : hasGguf ? "quantized" : "finetune");
        return [.. bases.Select(name => new BaseModelLink(name, relation))];
    }

    static string? AsString(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    static JsonObject? ParseConfig(string text)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException e)
        {
            throw HubException.BadRequest($"config.json is not valid JSON: {e.Message}");
        }
    }

    static async Task<string> ReadTextAsync(BlobStore blobs, FileEntry file, CancellationToken ct)
    {
        await using var stream = blobs.OpenRead(file.Sha256);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(ct);
    }
}

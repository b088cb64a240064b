using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Safetensors;

/// <summary>The weight files of a Hugging Face model folder.</summary>
public static class SafetensorsFolder
{
    /// <summary>
    /// <c>model.safetensors</c>, or the shards that <c>model.safetensors.index.json</c> names — only those holding a tensor
    /// <paramref name="includeTensor"/> accepts, when given. Every path is checked to exist and to stay inside the folder.
    /// </summary>
    public static IReadOnlyList<string> ShardPaths(string folder, string modelName, Func<string, bool>? includeTensor = null)
    {
        string single = Path.Combine(folder, "model.safetensors");
        string index = Path.Combine(folder, "model.safetensors.index.json");
        if (File.Exists(single))
            return [single];
        if (!File.Exists(index))
            throw new ModelFormatException($"{modelName}: neither model.safetensors nor model.safetensors.index.json is present");
        JsonObject weightMap;
        try
        {
            weightMap = JsonNode.Parse(File.ReadAllText(index))?["weight_map"] as JsonObject
                ?? throw new ModelFormatException($"{modelName}: model.safetensors.index.json has no weight_map");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{modelName}: model.safetensors.index.json is not valid JSON ({e.Message})");
        }
        var shards = new List<string>();
        foreach (string file in weightMap.Where(entry => includeTensor?.Invoke(entry.Key) ?? true).Select(entry => (string?)entry.Value ?? "").Distinct())
        {
            if (file.Length == 0 || Path.GetFileName(file) != file)
                throw new ModelFormatException($"{modelName}: model.safetensors.index.json names an invalid shard '{file}'");
            string path = Path.Combine(folder, file);
            if (!File.Exists(path))
                throw new ModelFormatException($"{modelName}: shard '{file}' is missing");
            shards.Add(path);
        }
        return shards;
    }
}

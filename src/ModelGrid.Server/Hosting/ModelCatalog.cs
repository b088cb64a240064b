using ModelGrid.Server.Api;

namespace ModelGrid.Server.Hosting;

/// <summary>The served models by name.</summary>
public sealed class ModelCatalog(IReadOnlyList<ServedModel> models)
{
    public IReadOnlyList<ServedModel> Models => models;

    public ServedModel Resolve(string? name, string param = "model")
    {
        if (string.IsNullOrEmpty(name))
            throw new ApiException(400, $"{param}: is required (one of: {string.Join(", ", models.Select(m => m.Name))})", param, "missing_required_parameter");
        return models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal))
            ?? throw new ApiException(404, $"{param}: the model '{name}' does not exist; served models: {string.Join(", ", models.Select(m => m.Name))}", param, "model_not_found");
    }
}

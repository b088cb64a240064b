namespace ModelGrid.Engine.Models;

/// <summary>A model whose files are readable but whose contents do not make a valid model (missing or mis-shaped tensors, bad config).</summary>
public sealed class ModelFormatException(string message) : Exception(message);

/// <summary>The model's architecture is not one the engine implements; the message names it and lists those that are.</summary>
public sealed class UnsupportedArchitectureException(string architecture, IEnumerable<string> supported)
    : Exception($"unsupported architecture '{architecture}' (supported: {string.Join(", ", supported)})")
{
    public string Architecture { get; } = architecture;
}

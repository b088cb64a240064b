namespace ModelGrid.Engine.Models;

/// <summary>How to load a model: compute threads, an optional cap on the context length, and its vision tower.</summary>
public sealed record ModelOptions
{
    public int Threads { get; init; } = Environment.ProcessorCount;

    public int? ContextLength { get; init; }

    /// <summary>
    /// The vision tower (an mmproj GGUF or a Hugging Face folder with a vision_config). Null looks for one beside the
    /// model (<c>mmproj-*.gguf</c> in the same folder), as downloads ship them; <see cref="string.Empty"/> disables images.
    /// </summary>
    public string? MultimodalProjector { get; init; }
}

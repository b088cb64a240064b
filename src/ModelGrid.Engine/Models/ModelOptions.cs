namespace ModelGrid.Engine.Models;

/// <summary>How to load a model: compute threads, and an optional cap on the context length.</summary>
public sealed record ModelOptions
{
    public int Threads { get; init; } = Environment.ProcessorCount;

    public int? ContextLength { get; init; }
}

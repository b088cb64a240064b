using ModelGrid.Engine;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Hosting;

/// <summary>
/// A model file or folder to serve, the name requests use for it (default: the file name without extension), and its
/// vision projector (null: an mmproj GGUF beside the model, if any; empty: none).
/// </summary>
public sealed record ModelSpec(string Path, string? Alias = null, string? Projector = null)
{
    public string Name => Alias ?? (Directory.Exists(Path)
        ? new DirectoryInfo(Path).Name
        : System.IO.Path.GetFileNameWithoutExtension(Path));
}

/// <summary>A loaded model with its scheduler, addressed by <see cref="Name"/>.</summary>
public sealed class ServedModel(string name, LanguageModel model, Scheduler scheduler, bool ownsModel) : IDisposable
{
    public string Name => name;
    public LanguageModel Model => model;
    public Scheduler Scheduler => scheduler;
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;

    public void Dispose()
    {
        scheduler.Dispose();
        if (ownsModel)
            model.Dispose();
    }
}

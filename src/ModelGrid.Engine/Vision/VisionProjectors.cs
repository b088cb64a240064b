using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Vision;

/// <summary>Receives an intermediate tensor of the tower by llama.cpp's name for it (e.g. <c>inp_pos_emb</c>, <c>layer_out-2</c>).</summary>
public delegate void VisionStageCallback(string stage, ReadOnlySpan<float> values);

/// <summary>A loaded vision tower and projector.</summary>
internal interface IVisionTower : IDisposable
{
    VisionConfig Config { get; }

    ImageEmbedding Encode(PreprocessedImage image, VisionStageCallback? observe);
}

/// <summary>Projector types, as <c>clip.projector_type</c> spells them, mapped to the tower that runs them.</summary>
public static class VisionProjectors
{
    static readonly Dictionary<string, Func<ModelSource, VisionConfig, WorkerPool, IVisionTower>> Towers = new(StringComparer.Ordinal)
    {
        ["qwen3vl_merger"] = (source, config, pool) => new Qwen3VisionTower(source, config, pool),
    };

    public static IReadOnlyCollection<string> Supported => Towers.Keys;

    public static bool IsSupported(string projectorType) => Towers.ContainsKey(projectorType);

    internal static IVisionTower Load(ModelSource source, WorkerPool pool)
    {
        string projector = VisionConfig.ProjectorTypeOf(source.Metadata);
        if (!Towers.TryGetValue(projector, out var load))
            throw new UnsupportedArchitectureException(projector, Towers.Keys);
        return load(source, VisionConfig.FromMetadata(source.Metadata), pool);
    }
}
